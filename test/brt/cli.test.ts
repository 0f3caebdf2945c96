/** `rota brt …` through the real CLI (child processes). */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { cli, spawnCli } from '../helpers/rota.ts'
import { tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'

describe('rota brt CLI', { skip: DB_FREE, timeout: 90_000 }, () => {
  test('brt simulate serves the fleet and stops on SIGTERM', async () => {
    const sim = await spawnCli(['brt', 'simulate', '--port', '0', '--vehicles', '25'], {}, /BRT simulator: 25 vehicles at (\S+)/)
    try {
      const url = /at (http:\/\/\S+)/.exec(sim.output())![1]!
      const body = (await (await fetch(url)).json()) as { veiculos: unknown[] }
      assert.ok(body.veiculos.length >= 18 && body.veiculos.length <= 25, `${body.veiculos.length} of 25 vehicles`)
    } finally {
      await sim.kill('SIGTERM')
    }
    assert.equal(sim.child.exitCode, 0)
  })

  test('brt simulate --adversarial serves broken rows too', async () => {
    const sim = await spawnCli(['brt', 'simulate', '--port', '0', '--vehicles', '5', '--adversarial'], {}, /BRT simulator: 5 vehicles at (\S+) \(adversarial\)/)
    try {
      const url = /at (http:\/\/\S+)/.exec(sim.output())![1]!
      const body = (await (await fetch(url)).json()) as { veiculos: Array<{ codigo?: string; velocidade?: unknown }> }
      assert.ok(body.veiculos.some((v) => v.codigo === 'ADV0002' && v.velocidade === 900))
    } finally {
      await sim.kill('SIGTERM')
    }
  })

  test('brt simulate refuses a bad option with a message', async () => {
    const r = await cli(['brt', 'simulate', '--vehicles', 'many'])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /--vehicles must be an integer/)
  })

  test('brt status on an empty home', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const r = await cli(['brt', 'status', '--json'], { ROTA_HOME: home, LAKE_URL: undefined })
      assert.equal(r.code, 0, r.stderr)
      const s = JSON.parse(r.stdout) as { buffer: { captures: number }; outbox: unknown[]; bronzeFiles: number; gold: unknown }
      assert.equal(s.buffer.captures, 0)
      assert.equal(s.bronzeFiles, 0)
      assert.deepEqual(s.outbox, [])
      assert.equal(s.gold, null)
    } finally {
      await cleanup()
    }
  })
})
