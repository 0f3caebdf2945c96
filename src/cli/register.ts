import fs from 'node:fs'
import path from 'node:path'
import type { RotaClient } from '../client/index.ts'
import { FlowLoadError, loadFlowModule } from '../sdk/loader.ts'

/**
 * Where a flow file may live: inside the project (the folder `rota` runs in). Agents load a flow by
 * its path inside their project, and a flow file imports `rota` through the project's package.json
 * and node_modules: from anywhere else Node fails with a cryptic "require() ES Module in a cycle".
 * The one place that says so, checked before the file is imported. Returns the file's absolute path.
 */
export function projectFile(file: string, projectRoot: string): string {
  const root = fs.realpathSync(projectRoot)
  const abs = path.resolve(projectRoot, file)
  if (!fs.existsSync(abs)) throw new FlowLoadError(`flow file ${file} does not exist (looked at ${abs})`)
  const real = fs.realpathSync(abs)
  const rel = path.relative(root, real)
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    const name = path.basename(real)
    throw new FlowLoadError(
      `${file} is outside the project (${root}): agents load flows by their path inside the project, and a flow file imports 'rota' from it. ` +
        `Move the file into the project (for example ${path.join(root, 'flows', name)}) and run \`rota register flows/${name}\` from ${root}, ` +
        `or run rota from the project that holds the file.`,
    )
  }
  if (!fs.existsSync(path.join(root, 'package.json'))) {
    throw new FlowLoadError(`${root} has no package.json: run \`rota register\` from your project's root folder (the one with package.json and rota in node_modules).`)
  }
  return real
}

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
    })
    out.push({ name: flow.name, status, scheduleText: row.scheduleText })
  }
  return out
}
