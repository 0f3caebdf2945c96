/**
 * The smallest flow: shows where an agent runs flows. After `docker compose up -d`:
 *
 *   docker compose exec server node bin/rota.js register examples/hello.ts
 *   docker compose exec server node bin/rota.js run hello --wait
 *
 * With the Docker agent, `where` logs a host name that is neither the server's nor the agent's: the
 * run had a container of its own.
 */
import fs from 'node:fs'
import os from 'node:os'
import { defineFlow, log, task } from 'rota'

const where = task('where', async (): Promise<string> => {
  // Engines mark their containers with /.dockerenv (Docker) or /run/.containerenv (podman).
  const inContainer = fs.existsSync('/.dockerenv') || fs.existsSync('/run/.containerenv')
  log.info(`running on host ${os.hostname()}, ${inContainer ? 'in a container' : 'not in a container'}, node ${process.version}, uid ${process.getuid?.() ?? '-'}`)
  return os.hostname()
})

const greet = task('greet', async (name: string, host: string): Promise<void> => {
  log.info(`hello, ${name}, from ${host}`)
})

export default defineFlow({ name: 'hello', description: 'Logs where it runs', parameters: { name: 'world' } }, async ({ name }) => {
  await greet(name, await where())
})
