import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { api } from './api.ts'

export interface Loaded<T> {
  data: T | undefined
  error: Error | undefined
  loading: boolean
  reload: () => void
  setData: (update: (prev: T | undefined) => T | undefined) => void
}

/**
 * Fetch `path` and keep the last good answer while reloading, so a live refresh never blanks the page.
 * `path === null` means "not yet" (a dependency is missing).
 */
export function useApi<T>(path: string | null): Loaded<T> {
  const [data, setDataState] = useState<T | undefined>(undefined)
  const [error, setError] = useState<Error | undefined>(undefined)
  const [loading, setLoading] = useState(path !== null)
  const [tick, setTick] = useState(0)
  const lastPath = useRef(path)

  useEffect(() => {
    if (path === null) return
    if (lastPath.current !== path) {
      lastPath.current = path
      setDataState(undefined)
    }
    const ctrl = new AbortController()
    setLoading(true)
    api<T>(path, { signal: ctrl.signal })
      .then((d) => {
        setDataState(d)
        setError(undefined)
        setLoading(false)
      })
      .catch((err: unknown) => {
        if (ctrl.signal.aborted) return
        setError(err instanceof Error ? err : new Error(String(err)))
        setLoading(false)
      })
    return () => ctrl.abort()
  }, [path, tick])

  const reload = useCallback(() => setTick((t) => t + 1), [])
  const setData = useCallback((update: (prev: T | undefined) => T | undefined) => setDataState(update), [])
  return { data, error, loading, reload, setData }
}

/** Call `fn` every `ms` while the tab is visible. */
export function useInterval(fn: () => void, ms: number | null): void {
  const saved = useRef(fn)
  saved.current = fn
  useEffect(() => {
    if (ms === null) return
    const id = setInterval(() => {
      if (document.visibilityState !== 'hidden') saved.current()
    }, ms)
    return () => clearInterval(id)
  }, [ms])
}

/** The current time, re-read every `ms` (for "3 s ago" labels and running bars). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now())
  useInterval(() => setNow(Date.now()), ms)
  return now
}

/** A function that runs `fn` at most once per `ms`, trailing: bursts of live events cause one reload. */
export function useDebounced(fn: () => void, ms: number): () => void {
  const saved = useRef(fn)
  saved.current = fn
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null)
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current)
    },
    [],
  )
  return useCallback(() => {
    if (timer.current) return
    timer.current = setTimeout(() => {
      timer.current = null
      saved.current()
    }, ms)
  }, [ms])
}

/** The window title: `what · Rota` (a run's name and its flow, a flow's name, a page's label). */
export function useTitle(...parts: (string | null | undefined)[]): void {
  const title = [...parts.filter((p): p is string => Boolean(p)), 'Rota'].join(' · ')
  useEffect(() => {
    document.title = title
  }, [title])
}
