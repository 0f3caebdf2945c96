/** The flow SDK in process: schedules, parameters, tasks, skips, retries, timeouts. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { artifact, defineFlow, skip, task } from '../../src/sdk/index.ts'
import { errorStack } from '../../src/sdk/task.ts'
import { describeSchedule, fireTimes, normalizeSchedule, parseInterval } from '../../src/core/schedule.ts'
import { ParameterError, parameterSpecs, resolveParameters, redactParameters } from '../../src/core/parameters.ts'
import { runFlow } from '../../src/sdk/runtime.ts'
import type { ArtifactRecord, Reporter, TaskEvent } from '../../src/sdk/context.ts'

function recorder(): Reporter & { events: TaskEvent[]; lines: string[]; artifacts: (ArtifactRecord & { taskName: string | undefined })[] } {
  const events: TaskEvent[] = []
  const lines: string[] = []
  const artifacts: (ArtifactRecord & { taskName: string | undefined })[] = []
  return {
    events,
    lines,
    artifacts,
    taskState: (e) => void events.push(e),
    log: (level, message, taskName) => void lines.push(`${level}|${taskName ?? ''}|${message}`),
    artifact: async (a, taskName) => void artifacts.push({ ...a, taskName }),
    flush: async () => undefined,
  }
}

describe('schedules', () => {
  it('parses intervals in seconds, minutes and hours', () => {
    assert.equal(parseInterval('5s'), 5)
    assert.equal(parseInterval('1m'), 60)
    assert.equal(parseInterval('2h'), 7200)
    assert.equal(parseInterval(30), 30)
    assert.throws(() => parseInterval('soon'), /not understood/)
    assert.throws(() => parseInterval(0), /whole number/)
  })
  it('describes schedules in words', () => {
    assert.equal(describeSchedule({ intervalSeconds: 60 }), 'every 1 minute')
    assert.equal(describeSchedule({ intervalSeconds: 300 }), 'every 5 minutes')
    assert.equal(describeSchedule({ intervalSeconds: 5 }), 'every 5 seconds')
  })
  it('aligns interval ticks so every server computes the same instants', () => {
    const t = fireTimes({ intervalSeconds: 60 }, new Date('2026-01-01T00:00:30Z'), new Date('2026-01-01T00:03:00Z'))
    assert.deepEqual(t.map((d) => d.toISOString()), ['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z', '2026-01-01T00:03:00.000Z'])
  })
  it('keeps cron local times across a DST change (New York, spring forward 2026-03-08)', () => {
    const s = normalizeSchedule({ cron: '30 9 * * *', timezone: 'America/New_York' })
    assert.ok(s)
    const t = fireTimes(s, new Date('2026-03-07T00:00:00Z'), new Date('2026-03-10T00:00:00Z'))
    // 09:30 EST is 14:30Z; 09:30 EDT is 13:30Z
    assert.deepEqual(t.map((d) => d.toISOString()), ['2026-03-07T14:30:00.000Z', '2026-03-08T13:30:00.000Z', '2026-03-09T13:30:00.000Z'])
  })
  it('rejects unknown time zones and bad cron', () => {
    assert.throws(() => normalizeSchedule({ cron: '* * * * *', timezone: 'Mars/Olympus' }), /IANA/)
    assert.throws(() => normalizeSchedule({ cron: 'every day' }), /invalid/)
  })
})

describe('parameters', () => {
  const specs = parameterSpecs({ n: 10, name: 'x', dry: false, cfg: { a: 1 }, token: 'secret-value' }, ['token'])
  it('fills defaults and validates types', () => {
    assert.deepEqual(resolveParameters(specs, { n: 3 }), { n: 3, name: 'x', dry: false, cfg: { a: 1 }, token: 'secret-value' })
    assert.throws(() => resolveParameters(specs, { n: 'three' }), ParameterError)
    assert.throws(() => resolveParameters(specs, { nope: 1 }), /unknown parameter "nope"; this flow takes: n, name, dry, cfg, token/)
    assert.throws(() => resolveParameters(specs, [1, 2]), /JSON object/)
  })
  it('coerces CLI strings only when asked', () => {
    assert.deepEqual(resolveParameters(specs, { n: '7', dry: 'true' }, { coerce: true }).n, 7)
    assert.throws(() => resolveParameters(specs, { n: '7' }), ParameterError)
  })
  it('redacts secret parameters', () => {
    assert.equal(redactParameters(specs, resolveParameters(specs, {})).token, '********')
  })
})

describe('tasks in a flow run', () => {
  it('skips a task and every task fed by it; the flow still succeeds', async () => {
    const a = task('a', async () => 1)
    const b = task('b', async (n: number) => (n < 10 ? skip('too few') : n))
    const c = task('c', async (n: number) => n * 2)
    const flow = defineFlow({ name: 'skips', tasks: [a, b, c] }, async () => {
      await c(await b(await a()))
    })
    const r = recorder()
    const outcome = await runFlow(flow, { flowRunId: randomUUID(), flowRunName: 'x', parameters: {}, reporter: r })
    assert.equal(outcome.state, 'success')
    const final = Object.fromEntries(r.events.map((e) => [e.taskName, e]))
    assert.equal(final.a?.state, 'success')
    assert.equal(final.b?.state, 'skipped')
    assert.equal(final.b?.message, 'too few')
    assert.equal(final.c?.state, 'skipped')
    assert.match(final.c?.message ?? '', /upstream task "b" was skipped/)
  })

  it('retries with exponential backoff, then fails the flow; unreached tasks are recorded', async () => {
    let calls = 0
    const t0 = Date.now()
    const bad = task({ name: 'bad', retries: 2, retryDelaySeconds: 0.05, retryBackoff: 'exponential' }, async () => {
      calls++
      throw new Error(`nope ${calls}`)
    })
    const after = task('after', async () => 1)
    const flow = defineFlow({ name: 'retries', tasks: [bad, after] }, async () => {
      await bad()
      await after()
    })
    const r = recorder()
    const outcome = await runFlow(flow, { flowRunId: randomUUID(), flowRunName: 'x', parameters: {}, reporter: r })
    assert.equal(calls, 3)
    assert.ok(Date.now() - t0 >= 140, 'waited 50 + 100 ms between attempts')
    assert.equal(outcome.state, 'failed')
    assert.match(outcome.message, /task "bad" failed after 3 attempts: nope 3/)
    assert.deepEqual(r.events.filter((e) => e.taskName === 'bad').map((e) => e.state), ['running', 'retrying', 'running', 'retrying', 'running', 'failed'])
    const afterEvent = r.events.find((e) => e.taskName === 'after')
    assert.equal(afterEvent?.state, 'skipped')
    assert.match(afterEvent?.message ?? '', /not reached/)
  })

  it('times a task out and captures console output as logs, with secrets redacted', async () => {
    const hang = task({ name: 'hang', timeoutSeconds: 0.1 }, async () => new Promise(() => undefined))
    const chatty = task('chatty', async (token: string) => console.log(`token is ${token}`))
    const flow = defineFlow({ name: 'timeouts', parameters: { token: 'hunter2-very-secret' }, secretParameters: ['token'] }, async ({ token }) => {
      await chatty(token)
      await hang()
    })
    const r = recorder()
    const outcome = await runFlow(flow, { flowRunId: randomUUID(), flowRunName: 'x', parameters: { token: 'hunter2-very-secret' }, reporter: r })
    assert.equal(outcome.state, 'failed')
    assert.match(outcome.message, /timed out after 0.1s/)
    assert.ok(r.lines.includes('info|chatty|token is ********'), r.lines.join('\n'))
  })

  it("reports a flow's result with its secrets hidden (a caller in the process gets it whole); a child run inherits its parent's secrets", async () => {
    const child = defineFlow({ name: 'echo-child', parameters: { text: '' } }, async ({ text }) => {
      console.log(`child got ${text}`)
      return text
    })
    const parent = defineFlow({ name: 'secret-parent', parameters: { token: 'open-sesame-4321' }, secretParameters: ['token'] }, async ({ token }) => {
      const echoed = await child({ text: token }) // no server: the child runs inline
      return { token, echoed }
    })
    const r = recorder()
    const outcome = await runFlow(parent, { flowRunId: randomUUID(), flowRunName: 'x', parameters: { token: 'open-sesame-4321' }, reporter: r })
    assert.equal(outcome.state, 'success', outcome.message)
    assert.deepEqual(outcome.result, { token: 'open-sesame-4321', echoed: 'open-sesame-4321' })
    assert.deepEqual(outcome.reportedResult, { token: '********', echoed: '********' })
    assert.ok(r.lines.some((l) => l.endsWith('child got ********')), r.lines.join('\n'))
    assert.ok(!r.lines.join('\n').includes('open-sesame'))
  })

  it('rejects bad flow and task definitions with clear errors', () => {
    assert.throws(() => defineFlow({ name: 'has space' }, async () => undefined), /name of letters/)
    assert.throws(() => task({ name: 'x', retries: -1 }, async () => undefined), /retries must be a number >= 0/)
    assert.throws(() => defineFlow({ name: 'ok', parameters: { a: 1 }, secretParameters: ['b' as 'a'] }, async () => undefined), /secretParameters names "b"/)
  })
})

describe('artifacts', () => {
  it('keeps each kind with its data shape, its description and the task it came from', async () => {
    const produce = task('produce', async () => {
      await artifact('raw', { a: 1 })
      await artifact.json('config', [1, 2], { description: 'the settings used' })
      await artifact.link('csv', 'gs://lake/bronze/x.csv', { text: 'x.csv', description: '360 rows' })
      await artifact.table('results', [{ model: 'silver', status: 'pass' }, { model: 'gold', seconds: 1.5 }])
      await artifact.files('uploaded', ['gs://lake/a.csv', 'gs://lake/b.csv'])
      await artifact.markdown('report', '# Done')
    })
    const flow = defineFlow({ name: 'artifacts', tasks: [produce] }, async () => produce())
    const r = recorder()
    assert.equal((await runFlow(flow, { flowRunId: randomUUID(), flowRunName: 'x', parameters: {}, reporter: r })).state, 'success')
    assert.deepEqual(
      r.artifacts.map((a) => [a.key, a.kind, a.data, a.description, a.taskName]),
      [
        ['raw', 'json', { a: 1 }, undefined, 'produce'],
        ['config', 'json', [1, 2], 'the settings used', 'produce'],
        ['csv', 'link', { url: 'gs://lake/bronze/x.csv', text: 'x.csv' }, '360 rows', 'produce'],
        ['results', 'table', { columns: ['model', 'status', 'seconds'], rows: [{ model: 'silver', status: 'pass' }, { model: 'gold', seconds: 1.5 }] }, undefined, 'produce'],
        ['uploaded', 'files', ['gs://lake/a.csv', 'gs://lake/b.csv'], undefined, 'produce'],
        ['report', 'markdown', '# Done', undefined, 'produce'],
      ],
    )
  })

  it('refuses data that does not fit its kind, and calls outside a run, with a clear error', async () => {
    await assert.rejects(artifact('x', 1), /outside a flow run/)
    const bad = task('bad', async (which: string) => {
      if (which === 'link') await artifact.link('l', '' as string)
      if (which === 'table') await artifact.table('t', [1, 2] as unknown as Record<string, unknown>[])
      if (which === 'files') await artifact.files('f', [3] as unknown as string[])
      if (which === 'key') await artifact.json('', 1)
    })
    for (const which of ['link', 'table', 'files', 'key']) {
      const flow = defineFlow({ name: `bad-${which}`, tasks: [bad] }, async () => bad(which))
      const outcome = await runFlow(flow, { flowRunId: randomUUID(), flowRunName: 'x', parameters: {}, reporter: recorder() })
      assert.equal(outcome.state, 'failed', which)
      assert.match(outcome.message, /needs/, which)
    }
  })
})

describe('data flow, stacks and task lists', () => {
  it('records which task runs fed each task: results, promises, list items and fields; never primitives', async () => {
    const list = task('list', async () => [{ id: 1 }, { id: 2 }])
    const one = task('one', async (item: { id: number }) => ({ done: item.id }))
    const sum = task('sum', async (parts: { done: number }[]) => parts.length)
    const twice = task('twice', async (n: number) => n * 2)
    const both = task('both', async (a: unknown, b: unknown) => [a, b])
    const flow = defineFlow({ name: 'data-flow' }, async () => {
      const items = await list()
      const done = await Promise.all(items.map((i) => one(i)))
      const n = await sum(done)
      await twice(n) // a number: no edge
      const pending = one({ id: 3 })
      await both(pending, { nested: [done[0]] })
    })
    const r = recorder()
    assert.equal((await runFlow(flow, { flowRunId: randomUUID(), flowRunName: 'x', parameters: {}, reporter: r })).state, 'success')
    const first = new Map<string, (typeof r.events)[number]>()
    for (const e of r.events) if (!first.has(e.taskKey)) first.set(e.taskKey, e)
    const id = (key: string) => first.get(key)?.taskRunId
    assert.deepEqual(first.get('list')?.inputs, [])
    assert.deepEqual(first.get('one')?.inputs, [id('list')])
    assert.deepEqual(first.get('one#2')?.inputs, [id('list')])
    assert.deepEqual(first.get('sum')?.inputs, [id('one'), id('one#2')])
    assert.deepEqual(first.get('twice')?.inputs, [])
    assert.deepEqual(first.get('both')?.inputs, [id('one#3'), id('one')])
    // Only the first event of a task run carries its inputs.
    assert.ok(r.events.filter((e) => e.taskKey === 'list' && e.state === 'success').every((e) => e.inputs === undefined))
  })

  it('keeps the stack of a failed attempt, with its causes, redacted like the logs', async () => {
    const inner = new Error('socket closed')
    const err = new Error('upload failed', { cause: inner })
    assert.match(errorStack(err) ?? '', /^Error: upload failed\n\s+at .*sdk\.test\.ts:\d+:\d+[\s\S]*\nCaused by: Error: socket closed\n\s+at /)
    assert.equal(errorStack('a string'), undefined)
    const leak = task({ name: 'leak', retries: 1, retryDelaySeconds: 0 }, async (token: string) => {
      throw new Error(`refused ${token}`)
    })
    const flow = defineFlow({ name: 'leaky', parameters: { token: 'sesame-open-1234' }, secretParameters: ['token'] }, async ({ token }) => {
      await leak(token)
    })
    const r = recorder()
    await runFlow(flow, { flowRunId: randomUUID(), flowRunName: 'x', parameters: { token: 'sesame-open-1234' }, reporter: r })
    const failed = r.events.find((e) => e.state === 'failed')
    assert.match(failed?.stack ?? '', /^Error: refused \*{8}\n\s+at .*sdk\.test\.ts:\d+/)
    assert.equal(failed?.message, 'refused ********')
    assert.match(r.events.find((e) => e.state === 'retrying')?.stack ?? '', /refused \*{8}/)
    assert.ok(r.lines.some((l) => l.startsWith('warn|leak|attempt 1/2 failed: refused ********; retrying in 0s\nError: refused ********')), r.lines.join('\n'))
    assert.ok(r.lines.some((l) => l.startsWith('error|leak|failed after 2 attempts: refused ********\nError: refused ********')), r.lines.join('\n'))
    assert.ok(!r.lines.some((l) => l.includes('sesame-open-1234')) && !r.events.some((e) => JSON.stringify(e).includes('sesame-open-1234')))
  })

  it('a flow lists only the tasks it declares; a declaration that is not a list of tasks is refused', () => {
    const a = task('a-only', async () => 1)
    task('b-only', async () => 2)
    assert.deepEqual(defineFlow({ name: 'first' }, async () => undefined).tasks, [])
    assert.deepEqual(defineFlow({ name: 'second', tasks: [a] }, async () => undefined).tasks, ['a-only'])
    assert.throws(() => defineFlow({ name: 'third', tasks: [(() => 1) as never] }, async () => undefined), /tasks must be a list of tasks made with task/)
  })
})
