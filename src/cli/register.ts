import type { RotaClient } from '../client/index.ts'
import { loadFlowModule } from '../sdk/loader.ts'

/** Registers every flow a module exports. */
export async function registerFile(client: RotaClient, file: string, projectRoot = process.cwd()): Promise<{ name: string; status: string; scheduleText: string }[]> {
  const flows = await loadFlowModule(file, projectRoot, { insideProject: true })
  const out = []
  for (const { flow, entrypoint, version } of flows) {
    const { status, flow: row } = await client.registerFlow({
      name: flow.name,
      description: flow.description,
      version,
      entrypoint,
      schedule: flow.schedule,
      parameters: flow.parameters,
      tasks: flow.tasks,
      labels: flow.labels,
      catchUp: flow.catchUp,
      retries: flow.retries,
      retryDelaySeconds: flow.retryDelaySeconds,
      maxActiveRuns: flow.maxActiveRuns,
      overlap: flow.overlap,
      pool: flow.pool,
      taskPools: flow.taskPools,
      retention: flow.retention,
      isolation: flow.isolation,
    })
    out.push({ name: flow.name, status, scheduleText: row.scheduleText })
  }
  return out
}
