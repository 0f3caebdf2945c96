/**
 * One shared EventSource for the whole app (`/api/events` without a run id): `flow-run` and `agent`
 * events for every list page. Pages subscribe to the bus instead of opening their own streams, so a
 * browser tab holds one connection however many widgets listen.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { subscribe } from './api.ts'
import type { Agent, FlowRun, LogLine, TaskRun } from './types.ts'

/**
 * A `flow-run` event carries the whole FlowRun, or (when the server only notifies) just
 * `{ flowRunId, flowId, state }`: both are normalised to a partial run with its `id`.
 * `complete` says whether it can replace a row or only tell us to refetch.
 */
export type FlowRunEvent = Partial<FlowRun> & { id: string; complete: boolean }
export type AgentEvent = Partial<Agent> & { id: string; complete: boolean }

export function toFlowRunEvent(d: unknown): FlowRunEvent | null {
  const o = (d ?? {}) as Partial<FlowRun> & { flowRunId?: string }
  const id = o.id ?? o.flowRunId
  if (typeof id !== 'string') return null
  const { flowRunId: _ignored, ...rest } = o
  return { ...rest, id, complete: typeof o.name === 'string' && typeof o.flowName === 'string' }
}

export function toAgentEvent(d: unknown): AgentEvent | null {
  const o = (d ?? {}) as Partial<Agent> & { agentId?: string }
  const id = o.id ?? o.agentId
  if (typeof id !== 'string') return null
  const { agentId: _ignored, ...rest } = o
  return { ...rest, id, complete: typeof o.name === 'string' && typeof o.status === 'string' }
}

/** `task-run` events carry the TaskRun, or `{ flowRunId, taskRun }`. */
export function toTaskRunEvent(d: unknown): TaskRun | null {
  const o = (d ?? {}) as { flowRunId?: string; taskRun?: TaskRun } & Partial<TaskRun>
  const t = o.taskRun ?? (o as TaskRun)
  if (!t || typeof t.id !== 'string') return null
  return { ...t, flowRunId: t.flowRunId ?? o.flowRunId }
}

/** `log` events carry the log line, or `{ flowRunId, log }`. */
export function toLogEvent(d: unknown): LogLine | null {
  const o = (d ?? {}) as { flowRunId?: string; log?: LogLine } & Partial<LogLine>
  const l = o.log ?? (o as LogLine)
  if (!l || l.id === undefined || typeof l.message !== 'string') return null
  return { ...l, flowRunId: l.flowRunId ?? o.flowRunId }
}

/** Runs deleted without ending (a paused schedule's upcoming runs); `ids` empty: refetch the lists. */
export interface RunsRemovedEvent {
  flowId: string
  ids: string[]
}

export function toRunsRemovedEvent(d: unknown): RunsRemovedEvent | null {
  const o = (d ?? {}) as Partial<RunsRemovedEvent>
  if (typeof o.flowId !== 'string') return null
  return { flowId: o.flowId, ids: Array.isArray(o.ids) ? o.ids.filter((x): x is string => typeof x === 'string') : [] }
}

export interface LiveEvents {
  'flow-run': FlowRunEvent
  agent: AgentEvent
  'runs-removed': RunsRemovedEvent
  /** Fired on (re)connect: listeners refetch what they may have missed. */
  reconnect: null
}
type Name = keyof LiveEvents
type Handler<N extends Name> = (data: LiveEvents[N]) => void

const handlers: { [N in Name]: Set<Handler<N>> } = {
  'flow-run': new Set(),
  agent: new Set(),
  'runs-removed': new Set(),
  reconnect: new Set(),
}
const statusListeners = new Set<(live: boolean) => void>()
let live = false
let close: (() => void) | null = null
let opened = false

function emit<N extends Name>(name: N, data: LiveEvents[N]): void {
  for (const h of handlers[name]) (h as Handler<N>)(data)
}

export function startLive(): void {
  stopLive()
  opened = false
  close = subscribe(
    {},
    {
      'flow-run': (d) => {
        const e = toFlowRunEvent(d)
        if (e) emit('flow-run', e)
      },
      agent: (d) => {
        const e = toAgentEvent(d)
        if (e) emit('agent', e)
      },
      'runs-removed': (d) => {
        const e = toRunsRemovedEvent(d)
        if (e) emit('runs-removed', e)
      },
    },
    () => {
      // The first open is the initial connection; later ones are reconnects after a drop.
      if (opened) emit('reconnect', null)
      opened = true
    },
    (isLive) => {
      live = isLive
      for (const l of statusListeners) l(isLive)
    },
  )
}

export function stopLive(): void {
  close?.()
  close = null
}

export function useLiveEvent<N extends Name>(name: N, handler: Handler<N>): void {
  const saved = useRef(handler)
  saved.current = handler
  useEffect(() => {
    const h: Handler<N> = (d) => saved.current(d)
    const set = handlers[name] as Set<Handler<N>>
    set.add(h)
    return () => {
      set.delete(h)
    }
  }, [name])
}

export function useLiveStatus(): boolean {
  const [state, setState] = useState(live)
  useEffect(() => {
    statusListeners.add(setState)
    setState(live)
    return () => {
      statusListeners.delete(setState)
    }
  }, [])
  return state
}
