/** Build the dashboard once per test process, before a server starts (it reads dist/ui at startup). */
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { ROOT } from '../helpers/rota.ts'

let built = false

export function buildUi(): void {
  if (built) return
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/build-ui.ts')], { cwd: ROOT, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`npm run build:ui failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`)
  built = true
}
