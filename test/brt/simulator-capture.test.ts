import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { BrtApiError, BrtPayloadError, fetchCapture, parsePayload } from '../../pipelines/brt/capture.ts'
import { SimulatedFleet, startSimulator, type Simulator } from '../../pipelines/brt/simulator.ts'
import { DB_FREE } from './helpers/once.ts'

describe('simulator', { skip: DB_FREE, timeout: 30_000 }, () => {
  test('serves the real API shape with its anomalies at realistic rates', () => {
    const fleet = new SimulatedFleet({ vehicles: 800, seed: 7 })
    const t0 = Date.UTC(2024, 4, 1, 12)
    const calls = Array.from({ length: 5 }, (_, i) => fleet.next(t0 + i * 60_000).veiculos)
    const first = calls[0]!
    for (const c of calls) assert.ok(c.length >= 730 && c.length <= 800, `vehicles drop in and out: ${c.length} of 800`)
    assert.equal(new SimulatedFleet({ vehicles: 800, seed: 7, absentRate: 0 }).next(t0).veiculos.length, 800)
    assert.deepEqual(Object.keys(first[0]!), [
      'codigo', 'placa', 'linha', 'latitude', 'longitude', 'dataHora', 'velocidade', 'id_migracao_trajeto',
      'sentido', 'trajeto', 'hodometro', 'direcao', 'ignicao', 'capacidadePeVeiculo', 'capacidadeSentadoVeiculo',
    ])
    const all = calls.flat()
    const lines = new Set(all.map((v) => v.linha))
    assert.ok(lines.size >= 30 && lines.size <= 40, `about 36 lines, got ${lines.size}`)
    assert.ok(all.some((v) => /TESTE|SAVEIRO/.test(String(v.codigo))), 'junk vehicle codes')
    assert.ok(all.some((v) => v.linha === '0'), 'out-of-service line 0')
    assert.ok(all.some((v) => v.latitude === 0 && v.longitude === 0), '(0, 0) positions')
    assert.ok(all.some((v) => new Date(Number(v.dataHora)).getUTCFullYear() === 2000), 'signals from 2000')
    assert.ok(all.some((v) => t0 - Number(v.dataHora) > 86_400_000 && new Date(Number(v.dataHora)).getUTCFullYear() > 2000), 'signals days old')
    assert.ok(all.some((v) => v.direcao === ' '), 'direcao " "')
    assert.ok(all.some((v) => Number(v.direcao) > 360), 'direcao above 360')
    assert.ok(all.some((v) => Number(v.hodometro) < 0), 'negative odometer')
    assert.ok(all.some((v) => /[ãõçáéí’]/.test(String(v.trajeto))), 'accents in trajeto')
    for (let i = 1; i < calls.length; i++) {
      const prev = new Set(calls[i - 1]!.map((v) => `${String(v.codigo)}|${String(v.dataHora)}`))
      const repeated = calls[i]!.filter((v) => prev.has(`${String(v.codigo)}|${String(v.dataHora)}`)).length / calls[i]!.length
      assert.ok(repeated >= 0.22 && repeated <= 0.47, `22-47 % repeated rows, got ${(repeated * 100).toFixed(1)} %`)
    }
    // The shares measured on real captures: about 16 % stale rows, a few % blank headings.
    calls.forEach((c, i) => {
      const stale = c.filter((v) => t0 + i * 60_000 - Number(v.dataHora) > 600_000).length / c.length
      assert.ok(stale >= 0.12 && stale <= 0.2, `about 16 % stale rows, got ${(stale * 100).toFixed(1)} %`)
      const blank = c.filter((v) => String(v.direcao).trim() === '').length / c.length
      assert.ok(blank >= 0.03 && blank <= 0.1, `blank headings, got ${(blank * 100).toFixed(1)} %`)
    })
    // Vehicles drop out for a few calls, then come back.
    const present = calls.map((c) => new Set(c.map((v) => String(v.codigo))))
    const back = [...present[0]!].filter((code) => !present[1]!.has(code) && present.slice(2).some((p) => p.has(code)))
    assert.ok(back.length > 0, 'some vehicles missing from one answer are back in a later one')
  })

  test('adversarial mode sends what a broken feed could, on top of the fleet', () => {
    const t0 = Date.UTC(2024, 4, 1, 12)
    const rows = new SimulatedFleet({ vehicles: 50, seed: 3, adversarial: true }).next(t0).veiculos
    const byCode = new Map(rows.map((r) => [String(r.codigo), r]))
    assert.equal(byCode.get('ADV0001')?.linha, 'ADV1')
    assert.equal(byCode.get('ADV0001')?.velocidade, -5)
    assert.equal(rows.filter((r) => r.linha === 'ADV1').length, 1, 'a line with a single vehicle')
    assert.equal(byCode.get('ADV0002')?.velocidade, 900)
    assert.ok(Number(byCode.get('ADV0003')?.dataHora) > t0 + 86_400_000, 'a GPS time days ahead')
    assert.equal(new Date(Number(byCode.get('ADV0004')?.dataHora)).getUTCFullYear(), 0)
    assert.ok(Number(byCode.get('ADV0005')?.dataHora) > Date.UTC(9999, 11, 31), 'past the year 9999')
    assert.equal(byCode.get('ADV0006')?.dataHora, 'NaN')
    assert.deepEqual(Object.keys(byCode.get('ADV0008')!), ['codigo', 'dataHora'], 'missing fields')
    assert.ok(rows.some((r) => !('codigo' in r)), 'a row without a vehicle code')
    assert.ok(rows.length >= 50, 'the fleet is still there')
  })

  test('is deterministic for a seed and a stepped clock', () => {
    const a = new SimulatedFleet({ vehicles: 50, seed: 3 })
    const b = new SimulatedFleet({ vehicles: 50, seed: 3 })
    for (let i = 0; i < 3; i++) assert.deepEqual(a.next(1e12 + i * 60_000), b.next(1e12 + i * 60_000))
  })
})

describe('capture against the simulator', { skip: DB_FREE, timeout: 60_000 }, () => {
  let sim: Simulator
  before(async () => {
    sim = await startSimulator({ vehicles: 100, seed: 1, slowMs: 5_000, absentRate: 0 })
  })
  after(async () => {
    await sim.close()
  })

  test('fetches and validates a fleet snapshot', async () => {
    const c = await fetchCapture(sim.url, { timeoutMs: 5_000 })
    assert.equal(c.payload.veiculos.length, 100)
    assert.ok(Math.abs(c.capturedAt.getTime() - Date.now()) < 5_000)
  })

  test('HTTP 500 is an API error naming the status', async () => {
    sim.setFault('http500', 1)
    await assert.rejects(fetchCapture(sim.url), (err: Error) => err instanceof BrtApiError && /HTTP 500/.test(err.message))
    assert.equal((await fetchCapture(sim.url)).payload.veiculos.length, 100, 'the fault was for one call only')
  })

  test('malformed JSON and an empty fleet are payload errors', async () => {
    sim.setFault('malformed', 1)
    await assert.rejects(fetchCapture(sim.url), (err: Error) => err instanceof BrtPayloadError && /malformed JSON/.test(err.message))
    sim.setFault('empty', 1)
    await assert.rejects(fetchCapture(sim.url), (err: Error) => err instanceof BrtPayloadError && /empty fleet/.test(err.message))
    assert.throws(() => parsePayload(Buffer.from('{"veiculos": {}}')), /"veiculos" is object/)
    assert.throws(() => parsePayload(Buffer.from('[1]')), /got an array/)
    assert.throws(() => parsePayload(Buffer.from('{"veiculos": [1]}')), /veiculos\[0\] is not an object/)
  })

  test('a slow answer times out with a clear message', async () => {
    sim.setFault('slow', 1)
    const started = Date.now()
    await assert.rejects(fetchCapture(sim.url, { timeoutMs: 300 }), (err: Error) => err instanceof BrtApiError && /did not answer within 0.3 s/.test(err.message))
    assert.ok(Date.now() - started < 3_000)
  })

  test('an unreachable API says so and names the --simulate flag', async () => {
    await assert.rejects(fetchCapture('http://127.0.0.1:1/gps/brt', { timeoutMs: 2_000 }), (err: Error) =>
      err instanceof BrtApiError && /unreachable/.test(err.message) && /--simulate/.test(err.message))
  })

  test('fault modes can be set over HTTP', async () => {
    const base = sim.url.replace(/\/gps\/brt$/, '')
    const r = await fetch(`${base}/_sim/fault?mode=http500&times=1`, { method: 'POST' })
    assert.equal(r.status, 200)
    assert.equal((await fetch(sim.url)).status, 500)
    assert.equal((await fetch(sim.url)).status, 200)
    assert.equal((await fetch(`${base}/_sim/fault?mode=bogus`, { method: 'POST' })).status, 400)
  })
})
