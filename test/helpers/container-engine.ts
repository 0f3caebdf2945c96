/**
 * A Docker-compatible engine for the tests that run real containers.
 *
 * Uses the engine DOCKER_HOST (or /var/run/docker.sock) points at when it answers; otherwise starts
 * one with ../shared/container-engine/start.sh (podman's API service) and takes the DOCKER_HOST and
 * ROTA_TEST_IMAGE it prints. No engine is a failure with what to do, not a silent skip: set
 * ROTA_SKIP_DOCKER=1 to skip these tests on purpose.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Docker from 'dockerode'

const execFileAsync = promisify(execFile)

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const engineScript = path.resolve(repoRoot, '../shared/container-engine/start.sh')

export interface ContainerEngine {
  docker: Docker
  /** The DOCKER_HOST the engine answers on (pass it to agent processes). */
  dockerHost: string
  /** An image that holds node (this machine's version); mount the project at /app to run it. */
  image: string
  /** `host` when containers must share the host's network to reach a server on 127.0.0.1. */
  network: string
}

/** True when the docker tests are skipped on purpose (ROTA_SKIP_DOCKER=1). */
export const skipDocker = process.env.ROTA_SKIP_DOCKER === '1'

let ensured: Promise<ContainerEngine> | undefined
let ensuredHost: Promise<string> | undefined

/** Finds or starts the engine once per process. Sets DOCKER_HOST and ROTA_TEST_IMAGE in process.env. */
export function ensureContainerEngine(): Promise<ContainerEngine> {
  ensured ??= ensureDockerHost().then(withImage)
  return ensured
}

/** Finds or starts the engine once per process and returns its DOCKER_HOST (also set in process.env). Needs no test image. */
export function ensureDockerHost(): Promise<string> {
  ensuredHost ??= findOrStartEngine()
  return ensuredHost
}

/** True when an engine answers on `dockerHost` (default: /var/run/docker.sock) within 3 s. */
export function engineAnswers(dockerHost: string | undefined): Promise<boolean> {
  return answers(dockerHost)
}

async function findOrStartEngine(): Promise<string> {
  const current = process.env.DOCKER_HOST
  if (await answers(current)) return current ?? 'unix:///var/run/docker.sock'

  if (!fs.existsSync(engineScript)) {
    throw new Error(
      `No Docker engine answers (DOCKER_HOST=${current ?? 'unset'}) and ${engineScript} does not exist. ` +
        'Start Docker (or podman system service) and set DOCKER_HOST, or set ROTA_SKIP_DOCKER=1 to skip the docker tests.',
    )
  }
  let stdout: string
  try {
    // Installing podman on a fresh machine takes a while; building the node image a few seconds.
    ;({ stdout } = await execFileAsync('bash', [engineScript], { cwd: '/', timeout: 300_000, maxBuffer: 1 << 20 }))
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? ''
    throw new Error(
      `No Docker engine answers and ${engineScript} failed: ${(error as Error).message}\n${stderr}\n` +
        'Start a Docker engine and set DOCKER_HOST, or set ROTA_SKIP_DOCKER=1 to skip the docker tests.',
    )
  }
  const exports = parseExports(stdout)
  const dockerHost = exports.DOCKER_HOST
  if (!dockerHost) throw new Error(`${engineScript} printed no DOCKER_HOST export:\n${stdout}`)
  process.env.DOCKER_HOST = dockerHost
  if (exports.ROTA_TEST_IMAGE) process.env.ROTA_TEST_IMAGE = exports.ROTA_TEST_IMAGE
  if (!(await answers(dockerHost))) throw new Error(`The engine started by ${engineScript} does not answer on ${dockerHost}`)
  return dockerHost
}

async function withImage(dockerHost: string): Promise<ContainerEngine> {
  const docker = dockerFor(dockerHost)
  const image = process.env.ROTA_TEST_IMAGE
  if (!image) {
    throw new Error(
      `A Docker engine answers on ${dockerHost} but ROTA_TEST_IMAGE is not set: set it to an image with node ${process.version} ` +
        `(for example: eval "$(${engineScript})" builds localhost/node-host:${process.version.slice(1)})`,
    )
  }
  try {
    await docker.getImage(image).inspect()
  } catch {
    throw new Error(`ROTA_TEST_IMAGE=${image} is not on the engine at ${dockerHost}; run ${engineScript} to build it`)
  }
  return { docker, dockerHost, image, network: process.env.ROTA_TEST_NETWORK ?? 'host' }
}

async function answers(dockerHost: string | undefined): Promise<boolean> {
  try {
    await Promise.race([
      dockerFor(dockerHost ?? 'unix:///var/run/docker.sock').ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3_000).unref()),
    ])
    return true
  } catch {
    return false
  }
}

export function dockerFor(dockerHost: string): Docker {
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) })
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'))
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' })
}

/** `export NAME=value` lines, as start.sh prints them (values may be single-quoted). */
export function parseExports(text: string): Record<string, string> {
  const result: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (match?.[1]) result[match[1]] = match[2]!.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1')
  }
  return result
}

/** Removes every container carrying `label=value` (the tests label theirs) and returns how many there were. */
export async function removeContainersLabelled(docker: Docker, label: string, value: string): Promise<number> {
  const found = await docker.listContainers({ all: true, filters: { label: [`${label}=${value}`] } })
  await Promise.all(found.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
  return found.length
}
