/**
 * A local Google Cloud Storage emulator for tests: `gcp-storage-emulator` from PyPI, installed on
 * first use into `<repo>/.venv-gcs-<pin>` and started on a loopback port with in-memory storage.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import lockfile from 'proper-lockfile'
import { REPO_ROOT } from '../../../pipelines/brt/dbt.ts'

export const GCS_EMULATOR_PIN = 'gcp-storage-emulator==2026.7.19'

export interface GcsEmulator {
  readonly endpoint: string
  stop(): Promise<void>
}

function exec(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.once('error', reject)
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))))
  })
}

export async function ensureGcsEmulator(): Promise<string> {
  const dir = path.join(REPO_ROOT, `.venv-gcs-${GCS_EMULATOR_PIN.split('==')[1]}`)
  const bin = path.join(dir, 'bin', 'gcp-storage-emulator')
  const marker = path.join(dir, '.rota-complete')
  const done = async (): Promise<boolean> => fs.access(marker).then(() => true, () => false)
  if (await done()) return bin
  const release = await lockfile.lock(`${dir}.install`, { realpath: false, stale: 30_000, update: 5_000, retries: { retries: 300, minTimeout: 1000, maxTimeout: 2000 } })
  try {
    if (await done()) return bin
    await fs.rm(dir, { recursive: true, force: true })
    await exec('python3', ['-m', 'venv', dir])
    await exec(path.join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--quiet', GCS_EMULATOR_PIN])
    await fs.writeFile(marker, new Date().toISOString())
    return bin
  } finally {
    await release()
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

export async function startGcsEmulator(options: { bucket?: string } = {}): Promise<GcsEmulator> {
  const bin = await ensureGcsEmulator()
  const port = await freePort()
  const args = ['start', '--host', '127.0.0.1', '--port', String(port), '--in-memory', '-q']
  if (options.bucket) args.push('--default-bucket', options.bucket)
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const endpoint = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gcp-storage-emulator exited ${child.exitCode}: ${stderr}`)
    try {
      const r = await fetch(`${endpoint}/storage/v1/b`)
      if (r.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`gcp-storage-emulator did not start within 20 s: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    endpoint,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(t)
    },
  }
}
