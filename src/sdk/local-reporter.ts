/** Prints a run's events to the terminal: `rota run --local`. */
import type { LogLevel, Reporter, TaskEvent } from './context.ts'
import { terminalSafe as clean } from '../core/text.ts'
import { localTime } from '../core/time.ts'

const color = (code: number, s: string, on: boolean) => (on ? `\x1b[${code}m${s}\x1b[0m` : s)
const STATE_COLOR: Record<string, number> = { success: 32, failed: 31, crashed: 31, skipped: 90, retrying: 33, running: 36, cancelled: 35 }
const LEVEL_COLOR: Record<LogLevel, number> = { debug: 90, info: 0, warn: 33, error: 31 }

export function terminalReporter(out: NodeJS.WritableStream = process.stdout): Reporter & { taskStates: TaskEvent[] } {
  const tty = (out as NodeJS.WriteStream).isTTY === true
  const time = () => localTime(new Date().toISOString(), { date: false, ms: true })
  const taskStates: TaskEvent[] = []
  return {
    taskStates,
    taskState(e) {
      taskStates.push(e)
      const state = color(STATE_COLOR[e.state] ?? 0, e.state.toUpperCase(), tty)
      out.write(`${time()} task ${clean(e.taskName)} ${state}${e.message ? ` - ${clean(e.message)}` : ''}\n`)
    },
    log(level, message, taskName) {
      // A stack's continuation lines are indented under the line that carries it.
      out.write(`${time()} ${color(LEVEL_COLOR[level], level.toUpperCase().padEnd(5), tty)} ${taskName ? `[${clean(taskName)}] ` : ''}${clean(message).replace(/\n/g, '\n    ')}\n`)
    },
    async artifact(a) {
      out.write(`${time()} artifact ${clean(a.key)} (${a.kind})${a.description ? ` - ${clean(a.description)}` : ''}: ${clean(JSON.stringify(a.data) ?? 'undefined')}
`)
    },
    async flush() {
      // writes are synchronous enough for a terminal: nothing is queued
    },
  }
}
