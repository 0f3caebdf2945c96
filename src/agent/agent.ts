/**
 * The agent loop: one long-poll at a time that heartbeats, claims due runs for free slots and learns
 * which held runs to stop. Each claimed run goes to the launcher with its own output (output.ts: the
 * lines its process prints, forwarded to its logs), made at launch and closed when the run settles;
 * when its process exits without having reported a final state, the agent reports it crashed (or
 * cancelled, if a cancel was asked).
 */
import os from 'node:os'
import { randomUUID } from 'node:crypto'
import { ApiError, type RotaClient } from '../client/index.ts'
import type { ClaimedRun, ExitInfo, LaunchedRun, Launcher } from './launcher.ts'
import { RunOutput, type OutputLine } from './output.ts'
import { backoffDelay, sleep, type BackoffPolicy } from '../core/backoff.ts'
import { RUN_TOKEN_ENV } from '../core/auth.ts'

/** Waits between polls while the server is unreachable: 0.5 s, 1 s, 2 s ... up to 10 s. */
const POLL_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 10_000 }

export interface AgentOptions {
  client: RotaClient
  launcher: Launcher
  name?: string
  labels?: string[]
  concurrency?: number
  /** Claim runs this long before their time, so they start on the dot. */
  prefetchMs?: number
  /** Longest single long-poll; also the heartbeat period when idle. */
  pollWaitMs?: number
  /** Extra environment for run processes (the server address and key are added). */
  env?: Record<string, string>
  apiKey?: string | undefined
  log?: (line: string) => void
  /** Each line a run's process prints, besides its logs (the Docker agent shows them on its console). */
  onOutput?: ((line: OutputLine & { flowRunId: string }) => void) | undefined
}

const TERMINAL = new Set(['success', 'failed', 'skipped', 'cancelled', 'crashed'])

export class Agent {
  readonly name: string
  id: string | undefined
  /** Runs this agent holds; `client` acts for the run with its token. */
  private readonly running = new Map<string, { run: ClaimedRun; client: RotaClient; launched: LaunchedRun; output: RunOutput; stopping?: 'cancel' | 'lost' | 'shutdown' }>()
  private stopped = false
  private poller: AbortController | undefined
  private pollSlots = 0
  private loopDone: Promise<void> | undefined
  private readonly log: (line: string) => void

  constructor(private readonly options: AgentOptions) {
    this.name = options.name ?? `${options.launcher.type}-agent-${os.hostname()}-${randomUUID().slice(0, 6)}`
    this.log = options.log ?? ((line) => console.log(`${new Date().toISOString()} ${line}`))
  }

  get concurrency(): number {
    return this.options.concurrency ?? 4
  }

  get activeRuns(): string[] {
    return [...this.running.keys()]
  }

  async start(): Promise<void> {
    await this.register()
    if (this.options.launcher.reconcile) {
      // The launcher reads each run's token back from what it started (a container's environment).
      const clientFor = (token: string | undefined) => (token ? this.options.client.forRun(token) : this.options.client)
      const outputs = new Map<string, RunOutput>()
      const outputFor = (id: string, token: string | undefined): RunOutput => {
        let output = outputs.get(id)
        if (!output) outputs.set(id, (output = new RunOutput(clientFor(token), id, this.outputOptions(id))))
        return output
      }
      for (const { flowRunId, launched, token } of await this.options.launcher.reconcile(this.name, outputFor)) {
        this.log(`agent ${this.name}: re-adopted run ${flowRunId} left by a previous agent process${token ? '' : ' (its run token is lost: its output and end cannot be reported)'}`)
        this.track({ id: flowRunId, name: flowRunId, flowName: '?', entrypoint: '', scheduledStartTime: new Date() }, clientFor(token), launched, outputFor(flowRunId, token))
      }
    }
    this.loopDone = this.loop()
  }

  private async register(): Promise<void> {
    const agent = await this.options.client.registerAgent({
      name: this.name,
      type: this.options.launcher.type,
      labels: this.options.labels ?? [],
      concurrency: this.concurrency,
    })
    this.id = agent.id
    this.log(`agent ${this.name} started (id ${agent.id}, type ${agent.type}, labels [${agent.labels.join(', ')}], concurrency ${this.concurrency})`)
  }

  private async loop(): Promise<void> {
    let failures = 0
    while (!this.stopped) {
      this.poller = new AbortController()
      this.pollSlots = Math.max(0, this.concurrency - this.running.size)
      try {
        const work = await this.options.client.poll(
          this.id as string,
          {
            slots: this.pollSlots,
            runIds: this.activeRuns,
            waitMs: this.options.pollWaitMs ?? 5000,
            prefetchMs: this.options.prefetchMs ?? 5000,
          },
          this.poller.signal,
        )
        if (failures > 0) this.log(`agent ${this.name}: server reachable again`)
        failures = 0
        for (const id of work.cancel) this.stopRun(id, 'cancel')
        for (const id of work.lost) this.stopRun(id, 'lost')
        for (const { token, ...wire } of work.runs) await this.launch({ ...wire, scheduledStartTime: new Date(wire.scheduledStartTime) }, token)
      } catch (err) {
        if (this.stopped) break
        if (this.poller.signal.aborted) continue // woken on purpose: a slot freed up
        if (err instanceof ApiError && err.status === 404) {
          await this.register().catch(() => undefined)
          continue
        }
        failures++
        const delay = backoffDelay(POLL_BACKOFF, failures)
        if (failures === 1 || failures % 10 === 0) this.log(`agent ${this.name}: poll failed (${(err as Error).message}); retrying in ${delay} ms`)
        await sleep(delay)
      }
    }
  }

  private async launch(run: ClaimedRun, token: string): Promise<void> {
    this.log(`agent ${this.name}: submitting run ${run.name} (${run.id}) of flow ${run.flowName}`)
    const env: Record<string, string> = {
      ...this.options.env,
      ROTA_API_URL: this.options.client.baseUrl,
      ROTA_FLOW_RUN_ID: run.id,
      ROTA_AGENT_ID: this.id as string,
      [RUN_TOKEN_ENV]: token,
    }
    // the run loads its flow while it waits for its start, before it asks for its parameters
    if (run.entrypoint) env.ROTA_FLOW_ENTRYPOINT = run.entrypoint
    if (this.options.apiKey) env.ROTA_API_KEY = this.options.apiKey
    // The agent's own calls for this run (its output, settling it) carry the run's token too.
    const client = this.options.client.forRun(token)
    const output = new RunOutput(client, run.id, this.outputOptions(run.id))
    try {
      this.track(run, client, await this.options.launcher.launch(run, env, output), output)
    } catch (err) {
      const message = `the agent could not start the run: ${(err as Error).message}`
      this.log(`agent ${this.name}: run ${run.name} failed to start: ${(err as Error).message}`)
      await output.close()
      await client.proposeState(run.id, 'crashed', message, this.id).catch(() => undefined)
    }
  }

  /** How a run's output is echoed and its delivery problems told (one RunOutput per run: its process's lines go to its logs until it settles). */
  private outputOptions(flowRunId: string) {
    return {
      echo: this.options.onOutput,
      onDeliveryError: (message: string) => this.log(`agent ${this.name}: output of run ${flowRunId}: ${message}`),
    }
  }

  private track(run: ClaimedRun, client: RotaClient, launched: LaunchedRun, output: RunOutput): void {
    this.running.set(run.id, { run, client, launched, output })
    void launched.exited.then(async (exit) => {
      const entry = this.running.get(run.id)
      this.running.delete(run.id)
      if (this.pollSlots === 0) this.poller?.abort() // the poll in flight claims nothing: poll again now
      await this.settle(run, client, exit, entry?.stopping, output)
    })
  }

  /** After a run's process exits: its last lines land in its logs, then the run gets a final state. */
  private async settle(run: ClaimedRun, client: RotaClient, exit: ExitInfo, stopping: string | undefined, output: RunOutput): Promise<void> {
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.exitCode}`
    await output.close()
    if (exit.state && TERMINAL.has(exit.state)) {
      // The run delivered its final state itself, and the launcher knows it: nothing to ask the server.
      this.log(`agent ${this.name}: run ${run.name} (${run.id}) finished with state ${exit.state}`)
      return
    }
    try {
      let current = await client.getRun(run.id)
      if (!TERMINAL.has(current.state)) {
        const cancelled = current.state === 'cancelling' || stopping === 'cancel'
        const state = cancelled ? 'cancelled' : 'crashed'
        const message = cancelled
          ? `cancelled: the agent stopped its process (${exit.reason ?? how})`
          : exit.reason
            ? `crashed: ${exit.reason}`
            : `crashed: its process exited with ${how} before reporting a final state`
        current = (await client.proposeState(run.id, state, message, this.id)).run
      }
      this.log(`agent ${this.name}: run ${current.name} (${run.id}) finished with state ${current.state}`)
    } catch (err) {
      this.log(`agent ${this.name}: could not settle run ${run.id}: ${(err as Error).message}`)
    }
  }

  private stopRun(id: string, why: 'cancel' | 'lost' | 'shutdown'): void {
    const entry = this.running.get(id)
    if (!entry || entry.stopping) return
    entry.stopping = why
    this.log(`agent ${this.name}: stopping run ${entry.run.name} (${id}): ${why === 'cancel' ? 'cancel requested' : why === 'lost' ? 'the server ended it' : 'agent shutting down'}`)
    void entry.launched.stop(why)
  }

  /** Stops claiming; stops running runs (they end cancelled); tells the server we left. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.poller?.abort()
    await this.loopDone
    const pending = [...this.running.values()].map((e) => e.launched.exited)
    for (const id of this.activeRuns) this.stopRun(id, 'shutdown')
    await Promise.all(pending)
    // let settle() calls finish
    await new Promise((r) => setTimeout(r, 50))
    await this.options.launcher.close?.()
    if (this.id) await this.options.client.stopAgent(this.id).catch(() => undefined)
  }
}
