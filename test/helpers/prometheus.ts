/**
 * The Prometheus text format as Prometheus's own client reads it: the official Python client's
 * parser (`prometheus_client.parser`, strict: a malformed line is an error), installed from PyPI on
 * first use into `<repo>/.venv-prom-<pin>`. (parse-prometheus-text-format, the npm parser, merges
 * the series of a labelled histogram into one, so it cannot check `rota_flow_run_duration_seconds{flow}`.)
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import lockfile from 'proper-lockfile'
import { ROOT } from './rota.ts'

export const PROMETHEUS_CLIENT_PIN = 'prometheus-client==0.26.0'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}
export interface Family {
  name: string
  /** counter, gauge, histogram, summary, untyped */
  type: string
  help: string
  samples: Sample[]
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.once('error', reject)
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${err || out}`))))
    child.stdin.end(input ?? '')
  })
}

async function ensureParser(): Promise<string> {
  const dir = path.join(ROOT, `.venv-prom-${PROMETHEUS_CLIENT_PIN.split('==')[1]}`)
  const python = path.join(dir, 'bin', 'python')
  const marker = path.join(dir, '.rota-complete')
  const done = async (): Promise<boolean> => fs.access(marker).then(() => true, () => false)
  if (await done()) return python
  const release = await lockfile.lock(`${dir}.install`, { realpath: false, stale: 30_000, update: 5_000, retries: { retries: 300, minTimeout: 1000, maxTimeout: 2000 } })
  try {
    if (await done()) return python
    await fs.rm(dir, { recursive: true, force: true })
    await run('python3', ['-m', 'venv', dir])
    await run(path.join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--quiet', PROMETHEUS_CLIENT_PIN])
    await fs.writeFile(marker, new Date().toISOString())
    return python
  } finally {
    await release()
  }
}

const SCRIPT = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
def num(v):
    return None if math.isnan(v) else ('+Inf' if v == math.inf else ('-Inf' if v == -math.inf else v))
print(json.dumps([{"name": f.name, "type": f.type, "help": f.documentation,
                   "samples": [{"name": s.name, "labels": s.labels, "value": num(s.value)} for s in f.samples]}
                  for f in text_string_to_metric_families(sys.stdin.read())]))
`

/** Parses an exposition; rejects with the parser's error when a line is not valid. */
export async function parsePrometheus(text: string): Promise<Family[]> {
  const python = await ensureParser()
  return JSON.parse(await run(python, ['-c', SCRIPT], text)) as Family[]
}

/** Makes the virtualenv ahead of the tests (scripts/dbt-setup.sh). */
export async function preparePrometheusParser(): Promise<void> {
  await ensureParser()
}
