/**
 * Runs tell the truth (issue 13): a run that ends closes its task runs in the same transaction,
 * whoever ends it (a cancel, the agent after its process died, the reaper); two flows in one module
 * keep their own tasks; a failed task keeps its stack (TypeScript file and line); each retry logs
 * the failure that caused it; task runs record the data flow between them and their attempts; a late
 * run says why it waits. Through a real server, agent and run processes, on both databases.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { ROOT, startHarness, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import { markCrashedRuns } from '../../src/server/reaper.ts'
import { hashRunToken } from '../../src/server/run-access.ts'
import type { TaskRun } from '../../src/client/index.ts'

const FIXTURE = 'test/fixtures/truth-flows.ts'
let h: Harness

before(async () => {
  h = await startHarness()
  await h.register(FIXTURE)
  await h.startAgent({ name: 'truth-agent', concurrency: 4 })
})
after(async () => {
  await h?.close()
})

async function tasksOf(runId: string): Promise<Record<string, TaskRun>> {
  return Object.fromEntries((await h.client.taskRuns(runId)).items.map((t) => [t.taskKey, t]))
}

async function runUntilTaskRuns(flow: string, params: Record<string, unknown> = {}): Promise<string> {
  const run = await h.client.createRun(flow, params)
  await waitFor(`a running task in ${flow}`, async () => ((await h.client.taskRuns(run.id)).items.some((t) => t.state === 'running') ? true : undefined))
  return run.id
}

describe('a run that ends closes its task runs', () => {
  it('cancelled while a task runs: the task ends cancelled, with an end time and a reason', async () => {
    const id = await runUntilTaskRuns('hanging', { seconds: 60 })
    await h.client.cancelRun(id)
    const run = await waitForRunState(h.client, id, ['cancelled', 'crashed', 'failed', 'success'], 20_000)
    assert.equal(run.state, 'cancelled')
    const { hang } = await tasksOf(id)
    assert.equal(hang?.state, 'cancelled', 'the task does not stay running after its run was cancelled')
    assert.ok(hang?.endTime, 'the task has an end time')
    assert.ok(Date.parse(hang.endTime) <= Date.parse(run.endTime ?? ''), 'the task ended with its run, not after')
    assert.match(hang?.message ?? '', /flow run was cancelled/)
    assert.equal(hang?.attemptLog.at(-1)?.state, 'cancelled')
    assert.ok(hang?.attemptLog.at(-1)?.endTime)
  })

  it('crashed by its agent (the process died mid-task): the task ends crashed', async () => {
    const created = await h.client.createRun('dying', {})
    const run = await waitForRunState(h.client, created.id, undefined, 30_000)
    assert.equal(run.state, 'crashed')
    const { die } = await tasksOf(created.id)
    assert.equal(die?.state, 'crashed')
    assert.match(die?.message ?? '', /flow run crashed/)
    assert.ok(die?.endTime)
  })

  it("crashed by the reaper (its agent went silent): the task ends crashed in the reaper's transaction", async () => {
    const id = await runUntilTaskRuns('hanging', { seconds: 60 })
    // The reaper's own sweep, as if the agent had been silent: every run some process should be running is crashed.
    const crashed = await markCrashedRuns(h.server.db, h.server.bus, 0)
    assert.ok(crashed.includes(id))
    assert.equal((await h.client.getRun(id)).state, 'crashed')
    const { hang } = await tasksOf(id)
    assert.equal(hang?.state, 'crashed')
    assert.match(hang?.message ?? '', /flow run crashed/)
    assert.ok(hang?.endTime)
    // The agent learns the run was lost and stops its process; nothing it reports reopens the task.
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal((await tasksOf(id)).hang?.state, 'crashed')
  })

  it('refuses task events that would start or reopen a task of an ended run', async () => {
    const created = await h.client.createRun('deliveries', {})
    const run = await waitForRunState(h.client, created.id)
    assert.equal(run.state, 'success')
    // Late reports come from the run's own process, which holds its token: give this test one.
    await h.server.db.query('update rota_flow_runs set token_hash = $2 where id = $1', [run.id, hashRunToken('late-reporter')])
    const res = await h.client.forRun('late-reporter').postTaskEvents(run.id, [
      { taskRunId: crypto.randomUUID(), taskKey: 'late-task', taskName: 'late-task', position: 9, state: 'running', attempts: 1, time: new Date().toISOString() },
      { taskRunId: crypto.randomUUID(), taskKey: 'pick-up', taskName: 'pick-up', position: 0, state: 'running', attempts: 2, time: new Date().toISOString() },
    ])
    assert.equal(res.applied, 0)
    assert.match(res.rejected[0]?.reason ?? '', /already ended as success/)
    assert.equal((await tasksOf(run.id))['late-task'], undefined)
    assert.equal((await tasksOf(run.id))['pick-up']?.state, 'success')
  })
})

describe('two flows in one module keep their own tasks', () => {
  it("each flow's runs list only the tasks it calls, and each flow learns its own list", async () => {
    const b = await waitForRunState(h.client, (await h.client.createRun('stocktake', {})).id)
    assert.equal(b.state, 'success')
    assert.deepEqual(Object.keys(await tasksOf(b.id)), ['count-stock', 'reorder'])
    const a = await waitForRunState(h.client, (await h.client.createRun('deliveries', {})).id)
    assert.deepEqual(Object.keys(await tasksOf(a.id)), ['pick-up', 'deliver'])
    assert.deepEqual((await h.client.getFlow('stocktake')).tasks, ['count-stock', 'reorder'])
    assert.deepEqual((await h.client.getFlow('deliveries')).tasks, ['pick-up', 'deliver'])
    // A later run that stops early records the task it never reached (the flow's learned list), and nothing of the other flow.
    const stopped = await waitForRunState(h.client, (await h.client.createRun('stocktake', { failAt: 'after-count' })).id)
    assert.equal(stopped.state, 'failed')
    const tasks = await tasksOf(stopped.id)
    assert.deepEqual(Object.keys(tasks), ['count-stock', 'reorder'])
    assert.match(tasks.reorder?.message ?? '', /not reached/)
  })
})

describe('failures a person can debug', () => {
  it("a failed task keeps its error's stack, source-mapped to the flow's TypeScript file and line", async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('ledger', { total: 7 })).id)
    assert.equal(run.state, 'failed')
    const { balance } = await tasksOf(run.id)
    assert.equal(balance?.state, 'failed')
    assert.equal(balance?.message, 'ledger does not balance: off by 7')
    const source = fs.readFileSync(path.join(ROOT, FIXTURE), 'utf8').split('\n')
    const line = source.findIndex((l) => l.includes('// THROW-HERE')) + 1
    const stack = balance?.stack ?? ''
    assert.match(stack, /^LedgerError: ledger does not balance: off by 7/)
    assert.ok(stack.includes(`truth-flows.ts:${line}:`), `the stack names truth-flows.ts:${line}:\n${stack}`)
    assert.doesNotMatch(stack, /truth-flows\.js/, 'TypeScript paths, not compiled ones')
    // The log has it too, at error level, in the task's lines.
    const logs = (await h.client.logs(run.id)).items
    const failure = logs.find((l) => l.level === 'error' && l.taskName === 'balance')
    assert.ok(failure?.message.includes(`truth-flows.ts:${line}:`), JSON.stringify(logs.map((l) => l.message)))
  })

  it('each retry logs the failure that caused it; the attempts are kept with their times', async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('wobble', {})).id)
    assert.equal(run.state, 'success')
    const { wobbly } = await tasksOf(run.id)
    assert.equal(wobbly?.attempts, 3)
    assert.equal(wobbly?.stack, null, 'a task that recovered keeps no stack')
    assert.deepEqual(wobbly?.attemptLog.map((a) => [a.attempt, a.state]), [[1, 'failed'], [2, 'failed'], [3, 'success']])
    for (const a of wobbly?.attemptLog ?? []) assert.ok(a.endTime && Date.parse(a.endTime) >= Date.parse(a.startTime))
    assert.match(wobbly?.attemptLog[0]?.message ?? '', /wobble 1/)
    const warns = (await h.client.logs(run.id)).items.filter((l) => l.level === 'warn' && l.taskName === 'wobbly').map((l) => l.message)
    assert.equal(warns.length, 2, warns.join('\n'))
    assert.match(warns[0] ?? '', /attempt 1\/3 failed: wobble 1; retrying in 0.2s\nError: wobble 1\n\s+at .*truth-flows\.ts:\d+:\d+/)
    assert.match(warns[1] ?? '', /attempt 2\/3 failed: wobble 2/)
  })

  it('a late run says why it waits: no active agent has its labels', async () => {
    const res = await fetch(`${h.server.url}/api/flows/gpu-only/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scheduledStartTime: new Date(Date.now() - 60_000).toISOString() }),
    })
    const created = (await res.json()) as { id: string }
    const run = await h.client.getRun(created.id)
    assert.equal(run.late, true)
    assert.match(run.lateReason ?? '', /no active agent has the labels gpu \(agents: truth-agent \[\]\): start one with `rota agent start --label gpu`/)
    const listed = (await h.client.listRuns({ flow: 'gpu-only', limit: 5 })).items.find((r) => r.id === run.id)
    assert.equal(listed?.lateReason, run.lateReason)
    assert.equal((await h.client.getFlow('gpu-only')).lastRun?.lateReason, run.lateReason)
    await h.client.cancelRun(run.id)
    assert.equal((await h.client.getRun(run.id)).lateReason, null)
  })
})

describe('data flow between task runs', () => {
  it('records which task runs fed which: a fan-out, parallel branches, a map and a join', async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('fan-out', { n: 4 })).id)
    assert.equal(run.state, 'success')
    const tasks = await tasksOf(run.id)
    const id = (key: string) => tasks[key]?.id
    assert.deepEqual(tasks.extract?.inputs, [])
    assert.deepEqual(tasks.left?.inputs, [id('extract')])
    assert.deepEqual(tasks.right?.inputs, [id('extract')])
    assert.deepEqual(tasks['list-rows']?.inputs, [id('extract')])
    const squares = Object.keys(tasks).filter((k) => k.startsWith('square'))
    assert.equal(squares.length, 4)
    for (const k of squares) assert.deepEqual(tasks[k]?.inputs, [id('list-rows')], k)
    assert.deepEqual(new Set(tasks.join?.inputs), new Set([id('left'), id('right'), ...squares.map(id)]))
    // The two branches overlapped in time: parallel, as the graph will show them.
    const overlap = Math.min(Date.parse(tasks.left?.endTime ?? ''), Date.parse(tasks.right?.endTime ?? '')) - Math.max(Date.parse(tasks.left?.startTime ?? ''), Date.parse(tasks.right?.startTime ?? ''))
    assert.ok(overlap > 0, 'left and right ran at the same time')
  })
})
