/**
 * The `rota` command line. Configuration is resolved here, once, from the environment and flags.
 */
import fs from 'node:fs'
import path from 'node:path'
import { Command, Option } from 'commander'
import { ConfigError, resolveConfig, type RotaConfig } from '../config.ts'
import { ApiError, RotaClient, ServerUnreachableError, type FlowRun } from '../client/index.ts'
import { clean, indentLines, localTime, paint, state, table, when } from './output.ts'
import { registerFile } from './register.ts'
import type { DevServiceSwitch } from './up.ts'
import { loadPlugins, pluginEnvNames, type LoadedPlugin } from '../plugin.ts'
import { addControlCommands, signedInt } from './control.ts'
import { addAutomationCommands } from './automations.ts'

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..')

class UsageError extends Error {
  override name = 'UsageError'
}

function client(config: RotaConfig): RotaClient {
  return new RotaClient(config.apiUrl, config.apiKey)
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

function parseParams(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of pairs) {
    const i = pair.indexOf('=')
    if (i <= 0) throw new UsageError(`--param takes name=value, got "${pair}"`)
    out[pair.slice(0, i)] = pair.slice(i + 1)
  }
  return out
}

function int(name: string) {
  return (raw: string) => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} must be a whole number, got "${raw}"`)
    return n
  }
}

/** Flows the project registers on `rota up`: package.json "rota.flows". */
function projectFlows(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { rota?: { flows?: string[] } }
  return pkg.rota?.flows ?? []
}

export async function buildProgram(plugins: readonly LoadedPlugin[]): Promise<Command> {
  const program = new Command('rota').description('Rota: flows, schedules and agents, in TypeScript').showHelpAfterError()

  const upCommand = program
    .command('up')
    .description('server + local agent + registration of the project flows, in one command')
    .option('--host <host>', 'address to bind', undefined)
    .option('--port <port>', 'port for the API and dashboard', int('--port'))
    .option('--concurrency <n>', 'runs the local agent executes at once', int('--concurrency'), 4)
    .option('--no-agent', 'do not start a local agent')
  // The plugins' development services (the BRT simulator: --simulate) add their own options.
  const services: DevServiceSwitch[] = []
  for (const { plugin } of plugins) {
    for (const service of plugin.devServices ?? []) {
      const options = service.options.map((o) => {
        const option = new Option(o.flags, o.description)
        const parse = o.parse
        if (parse) option.argParser((raw: string) => parse(raw))
        if (o.defaultValue !== undefined) option.default(o.defaultValue)
        upCommand.addOption(option)
        return option
      })
      services.push({ service, switchName: (options[0] as Option).attributeName() })
    }
  }
  upCommand.action(async (opts: { host?: string; port?: number; concurrency: number; agent: boolean } & Record<string, unknown>) => {
    const { up } = await import('./up.ts')
    await up({ ...opts, flows: projectFlows(), root: ROOT, plugins, services, options: opts })
  })

  const server = program.command('server').description('the API and dashboard server')
  server
    .command('start')
    .description('start the server (PGlite in ROTA_HOME, or PostgreSQL with DATABASE_URL)')
    .option('--host <host>', 'address to bind (anything but loopback needs ROTA_API_KEY)')
    .option('--port <port>', 'port', int('--port'))
    .action(async (opts: { host?: string; port?: number }) => {
      const config = resolveConfig(process.env, { ...(opts.host ? { host: opts.host } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}) })
      const { startServer } = await import('../server/index.ts')
      const running = await startServer(config)
      onShutdown(async () => running.close())
    })

  const agent = program.command('agent').description('agents execute flow runs')
  agent
    .command('start')
    .description('start an agent that runs flows in child processes (local) or containers (docker)')
    .addOption(new Option('--type <type>', 'where runs execute').choices(['local', 'docker']).default('local'))
    .option('--name <name>', 'agent name, unique and stable across restarts (default: a docker agent in a container takes the container\'s name; else type-host-random)')
    .option('--label <label>', 'only runs of flows whose labels this agent has (repeatable)', collect, [])
    .option('--concurrency <n>', 'runs at once (default 4; 100 with --isolation shared)', int('--concurrency'))
    .addOption(
      new Option('--isolation <mode>', "local: where runs of flows that do not choose execute: a process each, or shared warm workers (many runs at once)")
        .choices(['process', 'shared'])
        .default('process'),
    )
    .option('--workers <n>', 'shared isolation: worker processes in the pool (default: CPU cores, at most 4)', int('--workers'))
    .option('--spares <n>', 'process isolation: processes kept started, waiting for the next runs (default 1)', int('--spares'))
    .option('--image <image>', 'docker: image to run flows in')
    .option('--network <name>', 'docker: network for run containers')
    .option('--volume <host:container>', 'docker: bind mount (repeatable)', collect, [])
    .action(async (opts: { type: 'local' | 'docker'; name?: string; label: string[]; concurrency?: number; isolation: 'process' | 'shared'; workers?: number; spares?: number; image?: string; network?: string; volume: string[] }) => {
      const config = resolveConfig()
      const { startAgent } = await import('./agent.ts')
      const running = await startAgent(config, { ...opts, root: ROOT, forwardEnv: pluginEnvNames(plugins) })
      onShutdown(async () => running.stop())
    })

  program
    .command('register [file]')
    .description('register every flow the file exports, or without a file the project\'s flows (package.json "rota.flows"); unchanged flows are left alone')
    .action(async (file: string | undefined) => {
      const api = client(resolveConfig())
      const files = file ? [file] : projectFlows()
      if (files.length === 0) throw new UsageError('name the flow file to register: package.json lists no "rota.flows"')
      for (const f of files) {
        for (const r of await registerFile(api, f, file ? process.cwd() : ROOT)) console.log(clean(`${r.name}: ${r.status} (${r.scheduleText})`))
      }
    })

  program
    .command('run [flow]')
    .description('Quick Run a registered flow; or run a flow file in this process with --local')
    .option('--local <file>', 'run the flow in-process, without a server (like Prefect flow.run())')
    .option('--param <name=value>', 'parameter (repeatable)', collect, [])
    .option('--wait', 'follow the run and exit 0 only if it succeeds')
    .option('--priority <n>', 'claimed before due runs of lower priority (higher first; default 0)', signedInt('--priority'))
    .action(async (flowName: string | undefined, opts: { local?: string; param: string[]; wait?: boolean; priority?: number }) => {
      const params = parseParams(opts.param)
      if (opts.local) {
        const { runLocal } = await import('./run-local.ts')
        process.exitCode = await runLocal(opts.local, flowName, params)
        return
      }
      if (!flowName) throw new UsageError('name the flow to run (see `rota flows`), or pass --local <file>')
      const api = client(resolveConfig())
      const flow = await api.getFlow(flowName)
      const { resolveParameters } = await import('../core/parameters.ts')
      const coerced = resolveParameters(flow.parameters as never, params, { coerce: true })
      const overrides = Object.fromEntries(Object.keys(params).map((k) => [k, coerced[k]]))
      const run = await api.createRun(flowName, overrides, opts.priority === undefined ? {} : { priority: opts.priority })
      console.log(clean(`created run ${run.name} (${run.id}) of ${run.flowName}`))
      if (opts.wait) process.exitCode = (await follow(api, run.id, true)).state === 'success' ? 0 : 1
    })

  program
    .command('flows')
    .description('list registered flows')
    .action(async () => {
      const { items } = await client(resolveConfig()).listFlows()
      console.log(
        table(
          items.map((f) => [clean(f.name), clean(f.scheduleText), f.scheduleActive ? 'on' : paint('paused', 33), f.lastRun ? state(f.lastRun.state) : '-', f.lastRun ? when(f.lastRun.scheduledStartTime) : '-', clean(f.version)]),
          ['FLOW', 'SCHEDULE', 'ACTIVE', 'LAST RUN', 'WHEN', 'VERSION'],
        ),
      )
    })

  program
    .command('runs')
    .description('list flow runs, newest first (upcoming ones: soonest first)')
    .option('--flow <flow>', 'only these flows (comma separated)')
    .option('--state <state>', 'only these states (comma separated)')
    .option('--search <text>', 'only runs whose name contains this text (or the run with this id)')
    .option('--upcoming', 'only runs scheduled and not yet due')
    .option('--limit <n>', 'how many', int('--limit'), 20)
    .action(async (opts: { flow?: string; state?: string; search?: string; upcoming?: boolean; limit: number }) => {
      const { items } = await client(resolveConfig()).listRuns({
        flow: opts.flow,
        state: opts.state,
        q: opts.search,
        limit: opts.limit,
        ...(opts.upcoming ? { when: 'upcoming' as const, order: 'asc' as const } : {}),
      })
      console.log(
        table(
          items.map((r) => [clean(r.id), clean(r.name), clean(r.flowName), state(r.state) + (r.late ? paint(' late', 33) : ''), when(r.scheduledStartTime), r.durationMs === null ? '-' : `${(r.durationMs / 1000).toFixed(1)}s`]),
          ['ID', 'NAME', 'FLOW', 'STATE', 'SCHEDULED', 'DURATION'],
        ),
      )
      for (const r of items) if (r.lateReason) console.log(paint(clean(`${r.name} is late: ${r.lateReason}`), 33))
    })

  program
    .command('logs <run>')
    .description("print a run's logs")
    .option('--follow', 'keep printing until the run ends')
    .action(async (id: string, opts: { follow?: boolean }) => {
      const run = await follow(client(resolveConfig()), id, opts.follow === true)
      if (opts.follow) console.log(`run ${clean(run.name)} ended ${state(run.state)}${run.stateMessage ? `: ${clean(run.stateMessage)}` : ''}`)
    })

  program
    .command('cancel <run>')
    .description('cancel a scheduled or running run')
    .action(async (id: string) => {
      const run = await client(resolveConfig()).cancelRun(id)
      console.log(`run ${clean(run.name)}: ${state(run.state)}`)
    })

  const schedule = program.command('schedule').description("pause or resume a flow's schedule")
  for (const action of ['pause', 'resume'] as const) {
    schedule
      .command(`${action} <flow>`)
      .description(`${action} the schedule`)
      .action(async (flow: string) => {
        const f = await client(resolveConfig()).setSchedule(flow, action === 'resume')
        console.log(clean(`${f.name}: schedule ${f.scheduleActive ? 'active' : 'paused'} (${f.scheduleText})`))
      })
  }

  addControlCommands(program, () => client(resolveConfig()), parseParams)
  addAutomationCommands(program, () => client(resolveConfig()))

  const internal = program.command('internal', { hidden: true })
  internal.command('run-child').action(async () => {
    const { runChild } = await import('../agent/child.ts')
    process.exitCode = await runChild(process.env, process.cwd())
  })
  internal.command('shared-worker').action(async () => {
    const { startWorker } = await import('../agent/worker.ts')
    startWorker(process.cwd())
  })

  for (const { plugin } of plugins) await plugin.commands?.(program)
  return program
}

/**
 * Prints logs (and task states) of a run; with `untilDone`, keeps going until the run ends. Times
 * are local with their offset; a failed task's stack comes with its error line (the SDK logs it),
 * its continuation lines indented.
 */
async function follow(api: RotaClient, id: string, untilDone: boolean): Promise<FlowRun> {
  let after = 0
  const seen = new Map<string, string>()
  let first = true
  for (;;) {
    const run = await api.getRun(id)
    if (first) {
      console.log(clean(`run ${run.name} of ${run.flowName}: ${run.state}, scheduled ${localTime(run.scheduledStartTime)}${run.lateReason ? ` (late: ${run.lateReason})` : ''}`))
      first = false
    }
    const { items } = await api.logs(id, after)
    for (const l of items) {
      after = l.id
      const level = l.level === 'error' ? paint('ERROR', 31) : l.level === 'warn' ? paint('WARN ', 33) : l.level.toUpperCase().padEnd(5)
      console.log(`${localTime(l.time, { date: false, ms: true })} ${level} ${l.taskName ? `[${clean(l.taskName)}] ` : ''}${indentLines(clean(l.message))}`)
    }
    if (untilDone) {
      for (const t of (await api.taskRuns(id)).items) {
        if (seen.get(t.id) !== t.state) {
          seen.set(t.id, t.state)
          if (t.state !== 'running' || !items.length) console.log(`${localTime(new Date().toISOString(), { date: false, ms: true })} task ${clean(t.taskName)} ${state(t.state)}${t.message ? ` - ${clean(t.message)}` : ''}`)
        }
      }
    }
    const done = ['success', 'failed', 'skipped', 'cancelled', 'crashed'].includes(run.state)
    if (!untilDone || (done && items.length === 0)) {
      if (untilDone) console.log(`run ${clean(run.name)} ended ${state(run.state)}${run.stateMessage ? `: ${clean(run.stateMessage)}` : ''}`)
      return run
    }
    if (items.length < 1000) await new Promise((r) => setTimeout(r, 300))
  }
}

function onShutdown(fn: () => Promise<void>): void {
  let stopping = false
  const handler = (signal: string) => {
    if (stopping) process.exit(130)
    stopping = true
    console.log(`\n${signal}: shutting down (again to force)`)
    fn().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(err.message)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

export async function main(argv: string[]): Promise<void> {
  try {
    const program = await buildProgram(await loadPlugins(ROOT))
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof ApiError || err instanceof ServerUnreachableError || err instanceof ConfigError || err instanceof UsageError || (err as Error).name.endsWith('Error')) {
      const known = err instanceof ApiError || err instanceof ServerUnreachableError || err instanceof ConfigError || err instanceof UsageError || ['ParameterError', 'FlowLoadError', 'DatabaseLockedError', 'ScheduleError'].includes((err as Error).name)
      console.error(`rota: ${clean((err as Error).message)}`)
      if (!known && process.env.ROTA_DEBUG) console.error((err as Error).stack)
      process.exitCode = 1
      return
    }
    throw err
  }
}
