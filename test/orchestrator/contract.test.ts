/**
 * One contract: the OpenAPI document, the client and the dashboard agree because all three come
 * from src/core/contract.ts. The document's schemas are the contract's, every body is one of them,
 * every call the client makes and every path the dashboard reads is documented, and the client's
 * and the dashboard's types are the contract's (checked by the compiler below).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { OpenAPIHono } from '@hono/zod-openapi'
import type { z } from 'zod'
import * as contract from '../../src/core/contract.ts'
import { createApp } from '../../src/server/api/app.ts'
import { EventBus } from '../../src/server/events.ts'
import { resolveConfig } from '../../src/config.ts'
import { loadPlugins } from '../../src/plugin.ts'
import { RotaClient } from '../../src/client/index.ts'
import type * as client from '../../src/client/index.ts'
import type * as ui from '../../src/ui/types.ts'
import type { Db } from '../../src/server/db/index.ts'
import { ROOT } from '../helpers/rota.ts'

// --- the compiler checks that the client's and the dashboard's shapes are the contract's -------
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const same = <A, B>(check: Equal<A, B>) => check
same<client.FlowRun, contract.FlowRun>(true)
same<client.Flow, contract.Flow>(true)
same<client.Artifact, contract.Artifact>(true)
same<Awaited<ReturnType<RotaClient['listRuns']>>, contract.RunPage>(true)
same<Awaited<ReturnType<RotaClient['poll']>>, contract.PollResult>(true)
same<Awaited<ReturnType<RotaClient['execution']>>, contract.Execution>(true)
same<Awaited<ReturnType<RotaClient['proposeState']>>, contract.StateResult>(true)
same<ui.FlowRun, contract.FlowRun>(true)
same<ui.Flow, contract.Flow>(true)
same<ui.TaskRun, contract.TaskRun>(true)
same<ui.LogLine, contract.LogLine>(true)
same<ui.Artifact, contract.Artifact>(true)
same<ui.Agent, contract.Agent>(true)
same<ui.Automation, contract.Automation>(true)
same<ui.Firing, contract.Firing>(true)
same<Awaited<ReturnType<RotaClient['listAutomations']>>, contract.AutomationList>(true)

interface OpenApiDoc {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref?: string } }> }; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }>>
  components: { schemas: Record<string, unknown> }
}

/** The document the server serves, built without a database (no route touches one until called). */
async function openApiDocument(): Promise<OpenApiDoc> {
  const db = {} as Db
  const app = await createApp({
    db,
    bus: new EventBus(db),
    config: resolveConfig({}, { port: 0 }),
    version: 'test',
    shutdown: new AbortController().signal,
    plugins: await loadPlugins(ROOT),
    env: {},
  })
  // the browser guard answers only the server's own loopback Host (port 0 in this config)
  return (await (await app.request('/api/openapi.json', { headers: { host: '127.0.0.1:0' } })).json()) as OpenApiDoc
}

/** The contract's named schemas, as the generator writes them on their own. */
function contractComponents(): Record<string, unknown> {
  const app = new OpenAPIHono()
  for (const value of Object.values(contract)) {
    const id = (value as z.ZodType | undefined)?.meta?.()?.id
    if (typeof id === 'string') app.openAPIRegistry.register(id, value as z.ZodType)
  }
  return app.getOpenAPIDocument({ openapi: '3.0.0', info: { title: 'the contract alone', version: '0' } }).components?.schemas ?? {}
}

const templateToRegex = (p: string) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`)

function documented(doc: OpenApiDoc, method: string, url: string): boolean {
  const pathname = url.split('?')[0] as string
  return Object.entries(doc.paths).some(([p, ops]) => templateToRegex(p).test(pathname) && method.toLowerCase() in ops)
}

describe('one contract', () => {
  it("the document's schemas are the contract's, and every body is one of them", async () => {
    const doc = await openApiDocument()
    const fromContract = contractComponents()
    for (const [name, schema] of Object.entries(fromContract)) {
      if (name in doc.components.schemas) assert.deepEqual(doc.components.schemas[name], schema, `component ${name}`)
    }
    const pluginNames = (await loadPlugins(ROOT)).map((p) => p.plugin.name)
    for (const name of Object.keys(doc.components.schemas)) {
      const fromPlugin = pluginNames.some((p) => name.toLowerCase().startsWith(p))
      assert.ok(name in fromContract || fromPlugin, `component ${name} comes from no contract`)
    }
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const bodies = [op.requestBody?.content['application/json']?.schema, ...Object.values(op.responses).map((r) => r.content?.['application/json']?.schema)]
        for (const schema of bodies) if (schema) assert.ok(schema.$ref, `${method.toUpperCase()} ${p}: a body written in place instead of a contract schema`)
      }
    }
  })

  it('every call the client makes is a documented route', async () => {
    const doc = await openApiDocument()
    const calls: string[] = []
    const c = new RotaClient('http://rota.invalid')
    // Record the request instead of sending it.
    ;(c as unknown as { request: (m: string, p: string) => Promise<unknown> }).request = async (method, p) => {
      calls.push(`${method} ${p}`)
      return {}
    }
    const id = '00000000-0000-4000-8000-000000000000'
    await Promise.all([
      c.health(), c.listFlows(), c.getFlow('f'), c.registerFlow({} as never), c.setSchedule('f', true), c.createRun('f', {}), c.listRuns({ flow: 'f' }),
      c.getRun(id), c.cancelRun(id), c.retryRun(id), c.taskRuns(id), c.logs(id), c.listAgents(), c.registerAgent({ name: 'a', type: 'local' }),
      c.poll(id, { slots: 1, waitMs: 0 }), c.stopAgent(id), c.proposeState(id, 'running'), c.execution(id), c.postTaskEvents(id, []), c.postLogs(id, 's', []),
      c.postArtifact(id, { key: 'k', data: 1 }),
      // flow control (issue 12)
      c.backfill('f', { from: '2026-01-01T00:00:00Z', to: '2026-01-01T01:00:00Z' }), c.listPools(), c.getPool('p'), c.setPool('p', 1), c.runResult(id),
      c.acquireSlot(id, { pool: 'p', taskRunId: id, taskKey: 't', taskName: 't' }), c.releaseSlot(id, 1), c.startChildRun(id, { id, flow: 'f' }), c.waitRun(id, 'running'),
      c.bulk('cancel', [id]),
      c.listAutomations(), c.getAutomation('a'), c.createAutomation({} as never), c.updateAutomation('a', {}), c.deleteAutomation('a'), c.firings('a'),
    ])
    // forRun makes a client, it calls nothing.
    const methods = Object.getOwnPropertyNames(RotaClient.prototype).filter((m) => m !== 'constructor' && m !== 'request' && m !== 'forRun')
    assert.equal(calls.length, methods.length, 'each client method is exercised above')
    for (const call of calls) {
      const [method, url] = call.split(' ') as [string, string]
      assert.ok(documented(doc, method, url), `the client calls ${call}, which /api/openapi.json does not have`)
    }
  })

  it('every API path the dashboard reads is a documented route', async () => {
    const doc = await openApiDocument()
    const files = [...walk(path.join(ROOT, 'src/ui')), ...(await loadPlugins(ROOT)).flatMap((p) => (p.dashboard ? walk(path.dirname(p.dashboard)) : []))]
    const found: string[] = []
    const call = /\b(?:useApi|api)\s*(?:<[^(]*?>)?\(\s*(`[^`]*`|'[^']*'|"[^"]*")/g
    for (const file of files) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(call)) {
        // `/flows/${name}` -> /flows/x; a query, static or built, is not part of the path.
        // (A path that starts with a variable, `${base}/logs`, cannot be known from the text.)
        const literal = fillTemplate((m[1] as string).slice(1, -1)).split('?')[0] as string
        if (literal.startsWith('/')) found.push(`/api${literal}`)
      }
    }
    assert.ok(found.length >= 15, `the scan finds the dashboard's requests (${found.length})`)
    for (const url of found) assert.ok(documented(doc, 'get', url) || documented(doc, 'post', url), `the dashboard reads ${url}, which /api/openapi.json does not have`)
  })
})

/** `/flows/${f(a)}/runs${query({ x })}` -> `/flows/x/runs`: a placeholder after a slash is a path segment, else a query. */
function fillTemplate(text: string): string {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      let depth = 0
      let j = i + 1
      for (; j < text.length; j++) {
        if (text[j] === '{') depth++
        else if (text[j] === '}' && --depth === 0) break
      }
      if (out === '') return '' // starts with a variable: unknown
      if (out.endsWith('/')) out += 'x'
      i = j
    } else out += text[i]
  }
  return out
}

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [path.join(dir, e.name)] : []))
}
