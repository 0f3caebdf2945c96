import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks'
import { clock, useTimePrefs, zoneLabel } from '../time.ts'
import { LOG_LEVELS, type LogLevel, type LogLine } from '../types.ts'

const LEVEL_RANK: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3 }
/** Sentinel for "logs written by the flow itself, outside any task". */
const FLOW_LEVEL = '\u0000flow'
/** Rendering every line of a huge run would stall the tab; the newest lines matter most. */
const MAX_RENDERED = 3000

/**
 * One log line. The time column is in the display zone, like every time of the dashboard (a tool's
 * own timestamps inside a message, dbt's UTC ones, are the message's). A line of several lines (a
 * stack trace) shows its first line and opens on demand.
 */
function LogLineView({ line }: { line: LogLine }) {
  const [open, setOpen] = useState(false)
  const t = Date.parse(line.time)
  const cut = line.message.indexOf('\n')
  const more = cut >= 0 ? line.message.slice(cut + 1).split('\n').length : 0
  return (
    <div class={`log-line lvl-${line.level}`} data-level={line.level} data-task={line.taskName ?? ''}>
      <span class="log-time">
        <time dateTime={line.time}>{Number.isNaN(t) ? '—' : clock(t)}</time>
      </span>
      <span class="log-level">{line.level.toUpperCase()}</span>
      <span class="log-task" title={line.taskName ?? 'flow'}>
        {line.taskName ?? 'flow'}
      </span>
      <span class="log-msg">
        {cut < 0 || open ? line.message : line.message.slice(0, cut)}
        {more > 0 ? (
          <button type="button" class="log-more" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="log-more">
            {open ? 'show less' : `show ${more} more line${more === 1 ? '' : 's'}`}
          </button>
        ) : null}
      </span>
    </div>
  )
}

export function LogViewer({ logs, tasks, live }: { logs: LogLine[]; tasks: string[]; live: boolean }) {
  useTimePrefs()
  const [minLevel, setMinLevel] = useState<LogLevel>('info')
  const [task, setTask] = useState('')
  const [text, setText] = useState('')
  const [follow, setFollow] = useState(true)
  const box = useRef<HTMLDivElement>(null)

  const taskNames = useMemo(() => {
    const names = new Set(tasks)
    for (const l of logs) if (l.taskName) names.add(l.taskName)
    return [...names]
  }, [logs, tasks])

  const filtered = useMemo(() => {
    const min = LEVEL_RANK[minLevel] ?? 0
    const needle = text.trim().toLowerCase()
    return logs.filter(
      (l) =>
        (LEVEL_RANK[l.level] ?? 1) >= min &&
        (task === '' || (task === FLOW_LEVEL ? l.taskName === null : l.taskName === task)) &&
        (needle === '' || l.message.toLowerCase().includes(needle)),
    )
  }, [logs, minLevel, task, text])
  const shown = filtered.length > MAX_RENDERED ? filtered.slice(-MAX_RENDERED) : filtered

  useLayoutEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight
  }, [shown.length, follow])

  useEffect(() => {
    const el = box.current
    if (!el) return
    const onScroll = () => setFollow(el.scrollHeight - el.scrollTop - el.clientHeight < 24)
    el.addEventListener('scroll', onScroll, { passive: true })
    return () => el.removeEventListener('scroll', onScroll)
  }, [])

  return (
    <div class="logs">
      <div class="toolbar">
        <label class="inline">
          Level{' '}
          <select name="level" value={minLevel} onChange={(e) => setMinLevel(e.currentTarget.value as LogLevel)}>
            {LOG_LEVELS.map((l) => (
              <option key={l} value={l}>
                {l === 'debug' ? 'all (debug+)' : `${l}+`}
              </option>
            ))}
          </select>
        </label>
        <label class="inline">
          Task{' '}
          <select name="task" value={task} onChange={(e) => setTask(e.currentTarget.value)}>
            <option value="">all</option>
            <option value={FLOW_LEVEL}>flow (no task)</option>
            {taskNames.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <input type="search" class="search" placeholder="Search logs" value={text} onInput={(e) => setText(e.currentTarget.value)} aria-label="Search logs" />
        <span class="grow" />
        <span class="muted log-count">
          {filtered.length === logs.length ? `${logs.length} lines` : `${filtered.length} of ${logs.length} lines`} · times in <span data-testid="log-zone">{zoneLabel()}</span>
        </span>
        {live ? (
          <span class="live-tag" title="Logs stream live from the server">
            <span class="pulse" /> live
          </span>
        ) : null}
      </div>
      <div ref={box} class="log-box" role="log" aria-live="polite" aria-label="Run logs" tabIndex={0} data-testid="logs">
        {shown.length === 0 ? <div class="log-empty">{logs.length ? 'No lines match the filters.' : live ? 'Waiting for logs…' : 'No logs.'}</div> : null}
        {filtered.length > shown.length ? <div class="log-empty">… {filtered.length - shown.length} earlier lines hidden</div> : null}
        {shown.map((l) => (
          <LogLineView key={l.id} line={l} />
        ))}
      </div>
      {!follow ? (
        <button
          type="button"
          class="btn small follow-btn"
          onClick={() => {
            setFollow(true)
            if (box.current) box.current.scrollTop = box.current.scrollHeight
          }}
        >
          ↓ Follow new lines
        </button>
      ) : null}
    </div>
  )
}

/** Merge new lines into an id-ordered list without duplicates (live events and catch-up fetches overlap). */
export function mergeLogs(current: LogLine[], incoming: LogLine[]): LogLine[] {
  if (!incoming.length) return current
  const last = current.length ? current[current.length - 1]!.id : -Infinity
  if (isSorted(incoming) && incoming[0]!.id > last) return current.concat(incoming)
  const byId = new Map<number, LogLine>()
  for (const l of current) byId.set(l.id, l)
  for (const l of incoming) byId.set(l.id, l)
  return [...byId.values()].sort((a, b) => a.id - b.id)
}

function isSorted(lines: LogLine[]): boolean {
  for (let i = 1; i < lines.length; i++) if (lines[i]!.id <= lines[i - 1]!.id) return false
  return true
}
