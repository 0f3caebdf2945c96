/**
 * A shared worker (`rota internal shared-worker`): one long-lived process of a SharedLauncher's
 * pool (shared.ts), executing many flow runs at once, each flow module loaded once.
 *
 * Each run is run.ts's, as in a run process, with what a process of its own would give it made
 * per run here:
 * - its configuration comes in the message that hands it over (never from process.env, which all
 *   runs share: flows read their run from runContext(), not from ROTA_FLOW_RUN_ID); so does its
 *   run token (ROTA_RUN_TOKEN), which its client sends with every call for the run and which no
 *   other run's calls carry, and which the programs a flow starts never inherit;
 * - its reporter, its abort signal (cancel), its task timeouts are its own (the SDK keeps a run's
 *   scope in AsyncLocalStorage);
 * - what its code prints outside the SDK's capture (process.stdout.write, console.* at a module's
 *   top level) is attributed by an AsyncLocalStorage of this file and sent to the agent, which
 *   forwards it to the run's logs as it does a run process's output; what no run owns goes to the
 *   worker's own output (the agent's log);
 * - an uncaught exception or unhandled rejection of its code, or its call of process.exit(), ends
 *   that run as crashed; the worker and the other runs go on.
 * What cannot be made per run: the event loop. A run whose code blocks it (a synchronous loop)
 * stalls every run of the worker; the launcher kills such a worker when a cancel or a task timeout
 * goes unanswered (see shared.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { State } from '../core/states.ts'
import type { FlowDefinition } from '../sdk/flow.ts'
import { loadEntrypoint } from '../sdk/loader.ts'
import { executeRun, runConfigFromEnv, RunCrash } from './run.ts'
import { LineSplitter, type OutputStream } from './output.ts'

/** Messages from the launcher. */
export type ToWorker = { type: 'run'; id: string; env: Record<string, string> } | { type: 'stop'; id: string }

/** Messages to the launcher. */
export type FromWorker =
  | { type: 'ready' }
  /** A run ended; `state` is the final state the server holds when the run delivered it; `reason` says why it ended early. */
  | { type: 'ended'; id: string; code: number; state?: State | undefined; reason?: string | undefined }
  /** A line the run's code printed outside the SDK's capture. */
  | { type: 'output'; id: string; stream: OutputStream; line: string }
  /** An attempt of a task with a timeout started (`key` names it until `deadline-done`). */
  | { type: 'deadline'; id: string; key: number; task: string; timeoutMs: number }
  | { type: 'deadline-done'; key: number }

interface WorkerRun {
  id: string
  stop: AbortController
  out: Record<OutputStream, LineSplitter>
  ended: boolean
}

const owner = new AsyncLocalStorage<WorkerRun>()
const runs = new Map<string, WorkerRun>()
/** Flow modules by entrypoint: the launcher never gives a worker two versions of one entrypoint. */
const flows = new Map<string, Promise<FlowDefinition>>()
let deadlines = 0

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message)
}

function note(line: string): void {
  realWrite.stderr(`[rota worker ${process.pid}] ${line}\n`)
}

const realWrite = {
  stdout: process.stdout.write.bind(process.stdout) as (chunk: string) => boolean,
  stderr: process.stderr.write.bind(process.stderr) as (chunk: string) => boolean,
}

/** Writes inside a run go to that run's output; others to the worker's own. */
function captureWrites(name: OutputStream): void {
  const stream = process[name]
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean
  stream.write = ((chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const run = owner.getStore()
    if (!run || run.ended) return write(chunk, encoding, callback)
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array)
    run.out[name].write(bytes)
    const done = typeof encoding === 'function' ? encoding : callback
    if (typeof done === 'function') process.nextTick(done as () => void)
    return true
  }) as typeof stream.write
}

/** Ends a run as crashed for a reason of its own code, leaving the worker and its other runs alone. */
function crash(run: WorkerRun, message: string): void {
  if (run.ended || run.stop.signal.aborted) return
  run.stop.abort(new RunCrash(message))
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err)
}

function onUncaught(kind: string) {
  return (err: unknown) => {
    const run = owner.getStore()
    if (run && !run.ended) {
      crash(run, `crashed: ${kind} in the run's code: ${describe(err)}`)
      return
    }
    // Nobody's: the worker's own state is in doubt. Its runs end crashed and the launcher replaces it.
    note(`${kind} outside any run; the worker exits: ${describe(err)}`)
    process.exit(70)
  }
}

async function loadFlow(entrypoint: string, projectRoot: string): Promise<FlowDefinition> {
  let flow = flows.get(entrypoint)
  if (!flow) {
    flow = loadEntrypoint(entrypoint, projectRoot)
    flows.set(entrypoint, flow)
    // A module that failed to load is tried again by the next run (it may have been a missing file).
    flow.catch(() => flows.delete(entrypoint))
  }
  return flow
}

async function startRun(id: string, env: Record<string, string>, projectRoot: string): Promise<void> {
  if (runs.has(id)) return
  const run: WorkerRun = {
    id,
    stop: new AbortController(),
    out: {
      stdout: new LineSplitter((line) => send({ type: 'output', id, stream: 'stdout', line })),
      stderr: new LineSplitter((line) => send({ type: 'output', id, stream: 'stderr', line })),
    },
    ended: false,
  }
  runs.set(id, run)
  const ended = (code: number, state?: State, reason?: string) => {
    if (run.ended) return
    run.out.stdout.end()
    run.out.stderr.end()
    run.ended = true
    runs.delete(id)
    send({ type: 'ended', id, code, state, reason })
  }
  await owner.run(run, async () => {
    try {
      const config = runConfigFromEnv({ ...process.env, ...env })
      const end = await executeRun(config, {
        projectRoot,
        stop: run.stop.signal,
        note: (line) => run.out.stderr.write(Buffer.from(`[rota worker] ${line}\n`)),
        loadFlow: (entrypoint) => loadFlow(entrypoint, projectRoot),
        watch: (task, timeoutMs) => {
          const key = ++deadlines
          send({ type: 'deadline', id, key, task, timeoutMs })
          return () => send({ type: 'deadline-done', key })
        },
      })
      ended(end.code, end.state)
    } catch (err) {
      ended(1, undefined, `its shared worker could not execute it: ${(err as Error).message}`)
    }
  })
}

/** Runs the worker until the agent goes away. */
export function startWorker(projectRoot: string): void {
  captureWrites('stdout')
  captureWrites('stderr')
  process.on('uncaughtException', onUncaught('uncaught exception'))
  process.on('unhandledRejection', onUncaught('unhandled rejection'))
  const exit = process.exit.bind(process)
  // A flow that calls process.exit() would end every run of the worker: it ends its own run instead.
  process.exit = ((code?: number | string | null) => {
    const run = owner.getStore()
    if (!run || run.ended) return exit(code as number)
    crash(run, `crashed: the flow called process.exit(${code ?? ''}); in a shared worker that ends only its own run (isolation 'process' gives a flow a process to exit)`)
    throw new RunCrash(`process.exit(${code ?? ''}) was called inside a shared worker: this run was ended as crashed`)
  }) as typeof process.exit
  process.on('message', (message: ToWorker) => {
    if (message?.type === 'run') void startRun(message.id, message.env, projectRoot)
    else if (message?.type === 'stop') runs.get(message.id)?.stop.abort(new Error('stopped by the agent'))
  })
  // The agent went away (even kill -9): stop every run rather than run unsupervised, then leave.
  const leave = () => {
    for (const run of runs.values()) run.stop.abort(new Error('the agent went away'))
    setTimeout(() => exit(0), 2000).unref()
    const check = setInterval(() => runs.size === 0 && exit(0), 50)
    check.unref()
  }
  process.once('disconnect', leave)
  process.once('SIGTERM', leave)
  if (!process.connected) leave()
  send({ type: 'ready' })
}
