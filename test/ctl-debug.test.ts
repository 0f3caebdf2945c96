import { it } from 'node:test'
import { startHarness, waitForRunState } from './helpers/rota.ts'
it('debug', async () => {
  const h = await startHarness()
  try {
    await h.register('test/fixtures/control.ts')
    await h.startAgent({ concurrency: 4 })
    const ids = []
    for (let i = 0; i < 2; i++) {
      ids.push((await h.client.createRun('pool-task', { file: '/tmp/ctl/p.txt', ms: 700 })).id)
      ids.push((await h.client.createRun('pool-flow', { file: '/tmp/ctl/p.txt', ms: 700 })).id)
    }
    for (let k = 0; k < 40; k++) {
      const p = await h.client.getPool('shared')
      const tasks = await Promise.all(ids.map(async (id) => (await h.client.taskRuns(id)).items.map((t) => `${t.taskName}:${t.state}:${t.message}`).join(',')))
      const runs = await Promise.all(ids.map(async (id) => { const r = await h.client.getRun(id); return `${r.flowName}:${r.state}:${r.stateMessage}` }))
      console.log(Date.now() % 100000, 'held', p.held, 'waiting', p.waiting.length, JSON.stringify(runs), JSON.stringify(tasks))
      await new Promise((r) => setTimeout(r, 150))
    }
    for (const id of ids) console.log((await waitForRunState(h.client, id)).state)
    console.log(h.logs.filter(l => /rota child|slot|pool/i.test(l)).slice(-30).join('\n'))
  } finally { await h.close() }
})
