/**
 * One shared EventSource for the whole app (`/api/events` without a run id): `flow-run` and `agent`
 * events for every list page. Pages subscribe to the bus instead of opening their own streams, so a
 * browser tab holds one connection however many widgets listen.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { subscribe } from './api.ts'
import type { Agent, FlowRun } from './types.ts'

export interface LiveEvents {
  'flow-run': FlowRun
  agent: Agent
  /** Fired on (re)connect: listeners refetch what they may have missed. */
  reconnect: null
}
type Name = keyof LiveEvents
type Handler<N extends Name> = (data: LiveEvents[N]) => void

const handlers: { [N in Name]: Set<Handler<N>> } = {
  'flow-run': new Set(),
  agent: new Set(),
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
      'flow-run': (d) => emit('flow-run', d as FlowRun),
      agent: (d) => emit('agent', d as Agent),
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
