/**
 * Prometheus metrics (GET /metrics, text format 0.0.4) through prom-client.
 *
 * Counters and histograms are this server's own, as Prometheus expects of every process: they count
 * what this server did (a run's state written here, a firing delivered from here), start at zero
 * when it starts (`rate()` and `increase()` take resets in their stride), and with several servers
 * on one database the totals are their `sum`. They are fed by the event bus's local events (events
 * that crossed from another replica are that replica's to count), never computed from the database:
 * retention deletes old runs, and a count of rows would go down, which a counter must never do.
 * Gauges (agents, database size, runs kept) are read from the database when scraped.
 */
import { createRequire } from 'node:module'
import type * as Prom from 'prom-client'
import type { Db } from './db/index.ts'
import type { EventBus, RotaEvent } from './events.ts'
import type { StorageProbe } from './retention.ts'
import { TERMINAL_STATES, isState } from '../core/states.ts'
import { listAgents } from './store/agents.ts'
import { listFlows } from './store/flows.ts'

const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200]

// prom-client's parts, not its index: the index loads every part, and its default metrics load
// OpenTelemetry's API (for CPU exemplars, which Rota does not use), ~7 MB of an idle server's
// 150 MB. Its classes and metric modules are the same ones the index exports.
const require = createRequire(import.meta.url)
const Registry = require('prom-client/lib/registry') as typeof Prom.Registry
const Counter = require('prom-client/lib/counter') as typeof Prom.Counter
const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge
const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram
type Registry = Prom.Registry
type Counter<T extends string> = Prom.Counter<T>
type Histogram<T extends string = string> = Prom.Histogram<T>

/** prom-client's default metrics (lib/defaultMetrics.js), all but processCpuTotal: its CPU counters are made below. */
const DEFAULT_METRICS = ['processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors', 'eventLoopLag', 'processResources', 'processHandles', 'processRequests', 'heapSizeAndUsed', 'heapSpacesSizeAndUsed', 'version', 'gc']

// The process's own metrics (CPU, memory, event loop, GC) exist once per process, however many
// servers it runs (the tests run several): one registry for them, merged into every scrape.
let processRegistry: Registry | undefined
function processMetrics(): Registry {
  if (!processRegistry) {
    const registry = (processRegistry = new Registry())
    for (const name of DEFAULT_METRICS) {
      const metric = require(`prom-client/lib/metrics/${name}`) as (registry: Registry, config: object) => void
      metric(registry, { eventLoopMonitoringPrecision: 10 })
    }
    // the names and help of prom-client's processCpuTotal
    const cpu = (name: string, help: string, seconds: (u: NodeJS.CpuUsage) => number) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset()
          this.inc(seconds(process.cpuUsage()))
        },
      })
    cpu('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', (u) => u.user / 1e6)
    cpu('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', (u) => u.system / 1e6)
    cpu('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', (u) => (u.user + u.system) / 1e6)
  }
  return processRegistry
}

export class RotaMetrics {
  readonly registry = new Registry()
  private readonly flowRuns: Counter<'flow' | 'state'>
  private readonly taskRuns: Counter<'state'>
  private readonly scheduleLag: Histogram
  private readonly queueWait: Histogram
  private readonly runDuration: Histogram<'flow'>
  private readonly firings: Counter<'automation' | 'status'>
  private readonly pruned: Counter<'flow'>
  private unsubscribe: (() => void) | undefined

  constructor(db: Db | undefined, storage: StorageProbe | undefined) {
    const registers = [this.registry]
    this.flowRuns = new Counter({
      name: 'rota_flow_runs_total',
      help: 'Flow runs that ended on this server, by flow and end state',
      labelNames: ['flow', 'state'],
      registers,
      // Known flows are listed from the first scrape, so rate() works from their first run.
      collect: async () => {
        if (!db) return
        for (const f of await listFlows(db)) for (const state of TERMINAL_STATES) this.flowRuns.inc({ flow: f.name, state }, 0)
      },
    })
    this.taskRuns = new Counter({ name: 'rota_task_runs_total', help: 'Task runs that ended (reported to this server), by end state', labelNames: ['state'], registers })
    for (const state of TERMINAL_STATES) this.taskRuns.inc({ state }, 0)
    this.scheduleLag = new Histogram({ name: 'rota_schedule_lag_seconds', help: "A run's scheduled time to its start (running)", buckets: LAG_BUCKETS, registers })
    this.queueWait = new Histogram({ name: 'rota_queue_wait_seconds', help: 'A run being due to an agent claiming it (0 when claimed ahead of time)', buckets: LAG_BUCKETS, registers })
    this.runDuration = new Histogram({ name: 'rota_flow_run_duration_seconds', help: 'Flow runs from start to end, by flow', labelNames: ['flow'], buckets: DURATION_BUCKETS, registers })
    new Gauge({
      name: 'rota_agents',
      help: 'Agents by status (active, unhealthy, offline)',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts: Record<string, number> = { active: 0, unhealthy: 0, offline: 0 }
        if (db) for (const a of await listAgents(db)) counts[a.status] = (counts[a.status] ?? 0) + 1
        for (const [status, n] of Object.entries(counts)) this.set({ status }, n)
      },
    })
    new Gauge({
      name: 'rota_database_bytes',
      help: 'Size of the database on disk',
      registers,
      async collect() {
        const bytes = storage ? (await storage.read()).databaseBytes : null
        if (bytes !== null) this.set(bytes)
      },
    })
    new Gauge({
      name: 'rota_flow_runs_kept',
      help: 'Flow runs in the database (retention deletes finished ones)',
      registers,
      async collect() {
        if (storage) this.set((await storage.read()).runs)
      },
    })
    new Gauge({
      name: 'rota_oldest_run_timestamp_seconds',
      help: 'Scheduled time of the oldest run kept (Unix seconds)',
      registers,
      async collect() {
        const oldest = storage ? (await storage.read()).oldestRun : null
        if (oldest) this.set(new Date(oldest).getTime() / 1000)
      },
    })
    this.firings = new Counter({
      name: 'rota_automation_firings_total',
      help: "Automation firings settled on this server, by automation and outcome (delivered, failed, throttled)",
      labelNames: ['automation', 'status'],
      registers,
    })
    this.pruned = new Counter({ name: 'rota_retention_deleted_runs_total', help: 'Finished runs deleted by retention on this server, by flow', labelNames: ['flow'], registers })
  }

  /** Counts this server's own events from now on. */
  observe(bus: EventBus): void {
    this.unsubscribe = bus.subscribe((event, local) => {
      if (local) this.record(event)
    })
  }

  stop(): void {
    this.unsubscribe?.()
  }

  firingSettled(automation: string, status: string): void {
    this.firings.inc({ automation, status })
  }

  runsDeleted(flow: string, n: number): void {
    this.pruned.inc({ flow }, n)
  }

  /** The text a scrape gets. */
  async text(): Promise<{ contentType: string; body: string }> {
    const merged = Registry.merge([processMetrics(), this.registry])
    return { contentType: this.registry.contentType, body: await merged.metrics() }
  }

  private record(event: RotaEvent): void {
    if (event.type === 'task-run') {
      const state = event.taskRun?.state
      if (state && TERMINAL_STATES.has(state)) this.taskRuns.inc({ state })
      return
    }
    if (event.type !== 'flow-run' || !event.facts || !isState(event.state)) return
    const facts = event.facts
    const scheduled = Date.parse(facts.scheduledStartTime)
    const seconds = (ms: number) => Math.max(0, ms) / 1000
    if (event.state === 'pending') this.queueWait.observe(seconds(Date.now() - scheduled))
    else if (event.state === 'running' && facts.startTime) this.scheduleLag.observe(seconds(Date.parse(facts.startTime) - scheduled))
    else if (TERMINAL_STATES.has(event.state)) {
      this.flowRuns.inc({ flow: facts.flowName, state: event.state })
      if (facts.startTime && facts.endTime) this.runDuration.observe({ flow: facts.flowName }, seconds(Date.parse(facts.endTime) - Date.parse(facts.startTime)))
    }
  }
}
