/** Each orchestration rule, on its own. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { closeTaskRunsWith, decideFlowRunTransition, decideTaskRunTransition, FLOW_RUN_RULES, type Proposal, type RunSnapshot } from '../../src/server/orchestration/rules.ts'
import { isTerminal, STATES, TERMINAL_STATES, type State } from '../../src/core/states.ts'
import { closeAttempts, recordAttempt, type AttemptRecord } from '../../src/server/orchestration/attempts.ts'
import { lateReason } from '../../src/server/orchestration/late.ts'

const now = new Date('2026-01-01T12:00:00Z')
const run = (state: State, extra: Partial<RunSnapshot> = {}): RunSnapshot => ({ state, scheduledStartTime: new Date('2026-01-01T11:59:00Z'), agentId: 'agent-a', attempt: 1, retries: 0, retryDelaySeconds: 10, ...extra })
const by = { agent: (agentId = 'agent-a') => ({ kind: 'agent' as const, agentId }), child: { kind: 'child' as const }, user: { kind: 'user' as const }, server: { kind: 'server' as const } }
const propose = (state: State, who: Proposal['by'] = by.child): Proposal => ({ state, by: who })

describe('terminal-states-are-final', () => {
  for (const terminal of ['success', 'failed', 'skipped', 'cancelled', 'crashed'] as const) {
    it(`aborts any change out of ${terminal}`, () => {
      for (const to of STATES) {
        const v = decideFlowRunTransition(run(terminal), propose(to), now)
        assert.equal(v.status, 'abort', `${terminal} -> ${to}`)
        assert.equal(v.rule, 'terminal-states-are-final')
      }
    })
  }
})

describe('no-double-submission', () => {
  it('aborts a second pending for a run already pending', () => {
    const v = decideFlowRunTransition(run('pending'), propose('pending', by.agent('agent-b')), now)
    assert.equal(v.status, 'abort')
    assert.equal(v.rule, 'no-double-submission')
  })
  it('aborts pending for a running run', () => {
    assert.equal(decideFlowRunTransition(run('running'), propose('pending'), now).status, 'abort')
  })
})

describe('only-the-claiming-agent-moves-a-pending-run', () => {
  it('aborts another agent starting the run', () => {
    const v = decideFlowRunTransition(run('pending'), propose('running', by.agent('agent-b')), now)
    assert.equal(v.status, 'abort')
    assert.equal(v.rule, 'only-the-claiming-agent-moves-a-pending-run')
  })
  it('accepts the claiming agent', () => {
    assert.equal(decideFlowRunTransition(run('pending'), propose('running', by.agent('agent-a')), now).status, 'accept')
  })
})

describe('no-start-before-scheduled-time', () => {
  it('answers wait with the time left', () => {
    const v = decideFlowRunTransition(run('pending', { scheduledStartTime: new Date(now.getTime() + 1500) }), propose('running'), now)
    assert.equal(v.status, 'wait')
    assert.equal(v.status === 'wait' && v.retryAfterMs, 1500)
  })
  it('accepts once due', () => {
    assert.deepEqual(decideFlowRunTransition(run('pending'), propose('running'), now).status, 'accept')
  })
})

describe('cancelling-stops-the-start', () => {
  it('aborts running for a run being cancelled', () => {
    const v = decideFlowRunTransition(run('cancelling'), propose('running'), now)
    assert.equal(v.status, 'abort')
    assert.equal(v.rule, 'cancelling-stops-the-start')
  })
})

describe('cancel-idle-runs-directly', () => {
  it('turns cancelling of a scheduled run into cancelled', () => {
    const v = decideFlowRunTransition(run('scheduled'), propose('cancelling', by.user), now)
    assert.equal(v.status, 'accept')
    assert.equal(v.status === 'accept' && v.state, 'cancelled')
  })
  it('keeps cancelling for a running run (its process must stop first)', () => {
    const v = decideFlowRunTransition(run('running'), propose('cancelling', by.user), now)
    assert.equal(v.status === 'accept' && v.state, 'cancelling')
  })
})

describe('allowed-transitions', () => {
  it('rejects a scheduled run jumping to success', () => {
    const v = decideFlowRunTransition(run('scheduled'), propose('success'), now)
    assert.equal(v.status, 'reject')
    assert.equal(v.rule, 'allowed-transitions')
    assert.match(v.status === 'reject' ? v.reason : '', /scheduled run cannot become success/)
  })
  it('accepts running -> success, failed, crashed', () => {
    for (const to of ['success', 'failed', 'crashed'] as const) assert.equal(decideFlowRunTransition(run('running'), propose(to), now).status, 'accept')
  })
})

describe('retry-failed-runs', () => {
  it('asks for a retry run, after the flow\'s delay, when a run of a flow with retries left crashes or fails', () => {
    for (const to of ['crashed', 'failed'] as const) {
      const v = decideFlowRunTransition(run('running', { attempt: 1, retries: 2, retryDelaySeconds: 30 }), propose(to, by.server), now)
      assert.equal(v.status, 'accept')
      assert.deepEqual(v.status === 'accept' && v.effects, [{ kind: 'retry', delayMs: 30_000 }])
    }
  })
  it('asks for none when the retries are used up, or for any other state', () => {
    const last = decideFlowRunTransition(run('running', { attempt: 3, retries: 2 }), propose('failed'), now)
    assert.equal(last.status === 'accept' && last.effects, undefined)
    const ok = decideFlowRunTransition(run('running', { retries: 2 }), propose('success'), now)
    assert.equal(ok.status === 'accept' && ok.effects, undefined)
  })
  it('asks for nothing when another rule refuses the change', () => {
    const v = decideFlowRunTransition(run('crashed', { retries: 5 }), propose('failed'), now)
    assert.equal(v.status, 'abort')
    assert.equal('effects' in v, false)
  })
})

describe('claiming', () => {
  it('an agent proposing pending for a scheduled run is accepted; for a claimed one, aborted', () => {
    assert.deepEqual(decideFlowRunTransition(run('scheduled', { agentId: null }), propose('pending', by.agent('agent-b')), now), { status: 'accept', state: 'pending', message: undefined })
    assert.equal(decideFlowRunTransition(run('pending'), propose('pending', by.agent('agent-b')), now).status, 'abort')
  })
})

describe('the policy as a whole', () => {
  it('has uniquely named rules', () => {
    const names = FLOW_RUN_RULES.map((r) => r.name)
    assert.equal(new Set(names).size, names.length)
  })
  it('task runs: running -> success accepted, success -> running rejected, first event accepted', () => {
    assert.equal(decideTaskRunTransition('running', 'success').status, 'accept')
    assert.equal(decideTaskRunTransition('success', 'running').status, 'reject')
    assert.equal(decideTaskRunTransition(undefined, 'skipped').status, 'accept')
    assert.equal(decideTaskRunTransition('retrying', 'running').status, 'accept')
  })
})

// --- flow control (issue 12) -----------------------------------------------------------------

const active = (...states: State[]) => states.map((state, i) => ({ id: `run-${i}`, name: `busy-${i}`, state }))
const flowAt = (overlap: 'queue' | 'skip' | 'cancel-running', states: State[], maxActiveRuns = 1) => ({ flow: { name: 'brt', maxActiveRuns, overlap, active: active(...states) } })
const claim = (extra: Partial<RunSnapshot>) => decideFlowRunTransition(run('scheduled', { agentId: null, name: 'new-run', ...extra }), propose('pending', by.agent('agent-b')), now)

describe('flow-concurrency-limit', () => {
  it('accepts a run while the flow is under its maxActiveRuns', () => {
    assert.equal(claim({ limits: flowAt('queue', ['running'], 2) }).status, 'accept')
    assert.equal(claim({ limits: flowAt('skip', []) }).status, 'accept')
  })
  it("queue: waits with a reason that names the limit and who holds it", () => {
    const v = claim({ limits: flowAt('queue', ['running']) })
    assert.equal(v.status, 'wait')
    assert.equal(v.rule, 'flow-concurrency-limit')
    assert.equal(v.status === 'wait' && v.reason, 'waiting: flow brt allows 1 active run (held by run busy-0 (running))')
  })
  it('queue: a cancelling run still holds its slot (its process may still be running)', () => {
    assert.equal(claim({ limits: flowAt('queue', ['cancelling']) }).status, 'wait')
  })
  it('skip: the run ends skipped, saying why', () => {
    const v = claim({ limits: flowAt('skip', ['running']) })
    assert.equal(v.status, 'accept')
    assert.equal(v.status === 'accept' && v.state, 'skipped')
    assert.match(v.status === 'accept' ? (v.message ?? '') : '', /^skipped: flow brt allows 1 active run and one is active \(run busy-0 \(running\)\); its overlap policy is 'skip'$/)
  })
  it('cancel-running: the oldest active runs are cancelled, enough to fit, and the run waits for them to end', () => {
    const v = claim({ limits: flowAt('cancel-running', ['running', 'running', 'pending'], 2) })
    assert.equal(v.status, 'wait')
    assert.equal(v.status === 'wait' && v.reason, "waiting: flow brt allows 2 active runs; cancelling run busy-0 (cancelling), run busy-1 (cancelling) first (overlap 'cancel-running')")
    const effect = v.status === 'wait' ? v.effects?.[0] : undefined
    assert.equal(effect?.kind, 'cancel-runs')
    assert.deepEqual(effect?.kind === 'cancel-runs' && effect.runIds, ['run-0', 'run-1'])
    assert.match(effect?.kind === 'cancel-runs' ? effect.message : '', /a newer run \(new-run\) of flow brt is waiting to start/)
  })
  it('cancel-running: runs already being cancelled are not cancelled again, and still hold their slot until they end', () => {
    const v = claim({ limits: flowAt('cancel-running', ['cancelling']) })
    assert.equal(v.status, 'wait')
    assert.equal(v.status === 'wait' && v.effects, undefined)
    // two slots, one freeing: nothing more to cancel, the run waits for that one
    const w = claim({ limits: flowAt('cancel-running', ['cancelling', 'running'], 2) })
    assert.equal(w.status, 'wait')
    assert.equal(w.status === 'wait' && w.effects, undefined)
    assert.equal(claim({ limits: flowAt('cancel-running', ['cancelling'], 2) }).status, 'accept')
  })
  it('a backfill run always queues, whatever the overlap policy', () => {
    for (const overlap of ['skip', 'cancel-running'] as const) assert.equal(claim({ backfillId: 'b-1', limits: flowAt(overlap, ['running']) }).status, 'wait')
  })
  it('a child run is never held back by its flow (it runs inside its parent)', () => {
    assert.equal(claim({ parentRunId: 'p-1', limits: flowAt('queue', ['running']) }).status, 'accept')
  })
})

describe('pool-slots', () => {
  const pool = (slots: number, holders: number) => ({ pool: { name: 'warehouse', slots, holders: Array.from({ length: holders }, (_, i) => ({ flowRunName: `r${i}`, taskName: i % 2 ? 'dbt' : null })) } })
  it('accepts while the pool has a free slot', () => {
    assert.equal(claim({ limits: pool(2, 1) }).status, 'accept')
  })
  it('waits when every slot is held, naming the holders', () => {
    const v = claim({ limits: pool(2, 2) })
    assert.equal(v.rule, 'pool-slots')
    assert.equal(v.status === 'wait' && v.reason, 'waiting for a slot in pool warehouse (2/2 held by run r0, task dbt of run r1)')
  })
  it('a pool of 0 slots says how to open it', () => {
    const v = claim({ limits: pool(0, 0) })
    assert.match(v.status === 'wait' ? v.reason : '', /the pool has 0 slots: `rota pool set warehouse --slots N` opens it/)
  })
})

describe('backfill-max-active', () => {
  const backfill = (maxActive: number, states: State[]) => ({ backfill: { id: '0123456789abcdef', maxActive, active: active(...states) } })
  it('accepts under maxActive, waits at it', () => {
    assert.equal(claim({ backfillId: '0123456789abcdef', limits: backfill(2, ['running']) }).status, 'accept')
    const v = claim({ backfillId: '0123456789abcdef', limits: backfill(2, ['running', 'pending']) })
    assert.equal(v.rule, 'backfill-max-active')
    assert.equal(v.status === 'wait' && v.reason, 'waiting: backfill 01234567 runs at most 2 runs at once (held by run busy-0 (running), run busy-1 (pending))')
  })
})

describe('children-follow-their-parent', () => {
  it('a parent being cancelled asks its open children to be cancelled too', () => {
    const v = decideFlowRunTransition(run('running', { name: 'mom', openChildren: 2 }), propose('cancelling', by.user), now)
    assert.deepEqual(v.status === 'accept' && v.effects, [{ kind: 'end-children', state: 'cancelling', message: 'cancelled: its parent run mom was cancelled' }])
  })
  it('a parent that crashes or ends first ends its open children', () => {
    const crashed = decideFlowRunTransition(run('running', { name: 'mom', openChildren: 1 }), propose('crashed', by.server), now)
    assert.deepEqual(crashed.status === 'accept' && crashed.effects, [{ kind: 'end-children', state: 'crashed', message: 'crashed: its parent run mom ended crashed before it' }])
    const ended = decideFlowRunTransition(run('running', { name: 'mom', openChildren: 1 }), propose('success'), now)
    assert.deepEqual(ended.status === 'accept' && ended.effects, [{ kind: 'end-children', state: 'cancelled', message: 'cancelled: its parent run mom ended success before it' }])
  })
  it('asks nothing without open children', () => {
    assert.equal('effects' in decideFlowRunTransition(run('running', { openChildren: 0 }), propose('success'), now), false)
  })
  it('a child run is not retried on its own (its parent decides)', () => {
    const v = decideFlowRunTransition(run('running', { retries: 3, parentRunId: 'p-1' }), propose('failed'), now)
    assert.equal(v.status === 'accept' && v.effects, undefined)
  })
})

describe('task runs waiting for a pool slot', () => {
  it('pending -> pending (who holds changed) -> running; retrying -> pending (the next attempt waits)', () => {
    assert.equal(decideTaskRunTransition('pending', 'pending').status, 'accept')
    assert.equal(decideTaskRunTransition('pending', 'running').status, 'accept')
    assert.equal(decideTaskRunTransition('retrying', 'pending').status, 'accept')
  })
})

describe('task runs end with their flow run (closeTaskRunsWith)', () => {
  it('every terminal flow state closes open task runs into a terminal state the task table allows, with a reason', () => {
    for (const flowState of TERMINAL_STATES) {
      const close = closeTaskRunsWith(flowState)
      assert.ok(close, flowState)
      assert.ok(isTerminal(close.state), `${flowState} -> ${close.state}`)
      assert.ok(close.reason.length > 10)
      for (const open of STATES.filter((s) => !isTerminal(s))) {
        assert.equal(decideTaskRunTransition(open, close.state).status, 'accept', `${open} task of a ${flowState} run -> ${close.state}`)
      }
    }
    assert.deepEqual([closeTaskRunsWith('cancelled')?.state, closeTaskRunsWith('crashed')?.state, closeTaskRunsWith('failed')?.state], ['cancelled', 'crashed', 'failed'])
    assert.equal(closeTaskRunsWith('running'), undefined)
  })
  it('once the flow run ended, a task event may record an ended task but never start or reopen one', () => {
    for (const flowState of TERMINAL_STATES) {
      for (const to of STATES) {
        const v = decideTaskRunTransition(undefined, to, flowState)
        assert.equal(v.status, isTerminal(to) ? 'accept' : 'reject', `${to} after the run ended ${flowState}`)
      }
    }
    assert.equal(decideTaskRunTransition('running', 'running', 'running').status, 'accept')
  })
})

describe('task attempts (attempts.ts)', () => {
  const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, s))
  it('running opens an attempt; retrying closes it as failed; the next running opens the next', () => {
    let log: AttemptRecord[] = []
    log = recordAttempt(log, { state: 'running', attempts: 1, time: t(0) })
    log = recordAttempt(log, { state: 'running', attempts: 1, time: t(1) })
    log = recordAttempt(log, { state: 'retrying', attempts: 1, time: t(2), message: 'boom' })
    log = recordAttempt(log, { state: 'running', attempts: 2, time: t(5) })
    log = recordAttempt(log, { state: 'success', attempts: 2, time: t(6) })
    assert.deepEqual(log.map((a) => [a.attempt, a.state, (a.startTime as Date).getUTCSeconds(), (a.endTime as Date | null)?.getUTCSeconds(), a.message]), [
      [1, 'failed', 0, 2, 'boom'],
      [2, 'success', 5, 6, null],
    ])
  })
  it('a closed run closes the open attempt with the reason; a skipped task without attempts records none', () => {
    const open = recordAttempt([], { state: 'running', attempts: 1, time: t(0) })
    assert.deepEqual(closeAttempts(open, 'cancelled', t(9), 'the flow run was cancelled').map((a) => [a.state, a.message]), [['cancelled', 'the flow run was cancelled']])
    assert.deepEqual(recordAttempt([], { state: 'skipped', attempts: 0, time: t(0) }), [])
  })
})

describe('why a late run waits (lateReason)', () => {
  const agent = (name: string, labels: string[], activeRuns = 0, concurrency = 2) => ({ name, labels, activeRuns, concurrency })
  it('is null for a run that is not late', () => {
    assert.equal(lateReason({ late: false, flowLabels: [] }, { agents: [] }), null)
  })
  it('names the missing agent, the missing labels, or the busy agents', () => {
    assert.match(lateReason({ late: true, flowLabels: [] }, { agents: [] }) ?? '', /no agent is running: start one with `rota agent start`/)
    assert.match(lateReason({ late: true, flowLabels: ['gpu', 'eu'] }, { agents: [agent('a1', ['eu'])] }) ?? '', /no active agent has the labels gpu, eu \(agents: a1 \[eu\]\): start one with `rota agent start --label gpu --label eu`/)
    assert.match(lateReason({ late: true, flowLabels: ['gpu'] }, { agents: [agent('g1', ['gpu'], 2), agent('g2', ['gpu', 'x'], 3, 3), agent('c1', [])] }) ?? '', /every agent that can run it is busy \(5 of 5 slots in use on g1, g2\)/)
    assert.match(lateReason({ late: true, flowLabels: [] }, { agents: [agent('a1', [], 1)] }) ?? '', /agent a1 has a free slot/)
  })
  it('names the flow control that holds it back, before what the agents have free', () => {
    const waiting = 'waiting: flow hourly allows 1 active run (held by run calm-otter)'
    assert.equal(lateReason({ late: true, flowLabels: [], stateMessage: waiting }, { agents: [agent('a1', [], 0)] }), waiting)
    // another message (a retry's, say) is not a limit's
    assert.match(lateReason({ late: true, flowLabels: [], stateMessage: 'retry 2 of 3' }, { agents: [agent('a1', [], 0)] }) ?? '', /agent a1 has a free slot/)
  })
})
