/**
 * A simulated BRT GPS API: a moving fleet in the shape of https://dados.mobilidade.rio/gps/brt,
 * with the anomalies the real one shows, at the shares measured on real captures: about 16 % of
 * rows stale (vehicles parked for hours, modems frozen for months, clocks in the year 2000), blank
 * headings, junk vehicle codes, (0, 0) and out-of-town positions, `direcao` above 360, negative
 * odometers, out-of-service line "0", 22-47 % of rows repeating the previous call, and vehicles
 * dropping out of the feed for a few calls. Fault modes on request.
 *
 * In adversarial mode it also sends what a broken feed could: negative and absurd speeds, GPS times
 * days ahead, in the year 0 or past the year 9999, NaN-like strings, missing fields, and a line
 * served by a single vehicle driving at -5 km/h. The pipeline must flag all of it and never stop.
 *
 * It is the offline demo (`rota brt simulate`, `rota up --simulate`) and the tests' data source.
 * With a seed and a fixed step (`stepSeconds`) every call is deterministic: call n always answers the
 * same body, so tests can compute what silver and gold must hold.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BrtPayload, RawVehicle } from './types.ts'

export type FaultMode = 'none' | 'http500' | 'slow' | 'malformed' | 'empty'
export const FAULT_MODES: readonly FaultMode[] = ['none', 'http500', 'slow', 'malformed', 'empty']

export interface FleetOptions {
  readonly vehicles?: number
  readonly seed?: number
  /**
   * Share of the fleet missing from each answer (default 0.04), as vehicles drop in and out of the
   * real feed: with 800 vehicles, calls answer about 740 to 790. Tests that count rows set 0.
   */
  readonly absentRate?: number
  /** Also send the values a broken feed could (see the header). */
  readonly adversarial?: boolean
}

/** Share of in-line vehicles parked at any time (no new fix for hours): with the frozen modems and
 * the year-2000 clocks this makes the ~16 % stale rows of the real feed. */
const PARKED_SHARE = 0.14
/** Mean calls (minutes) a parked vehicle stays parked, and a vehicle stays out of the feed. */
const PARKED_CALLS = 120
const ABSENT_CALLS = 4

/** Values a broken feed can put in any field. */
export const WEIRD_VALUES: readonly unknown[] = [
  'NaN', 'nan', 'Infinity', '-Infinity', 'inf', 'null', 'undefined', '', ' ', 'N/A', '1e309', '-1e309', '--', '0x1F',
  '12,5', '٣', null, true, false, [], {}, { nested: [1, 2] }, -1, 0, 1e308, -1e308, Number.MAX_SAFE_INTEGER,
]

/** Lines of the BRT network (about 36), as the API spells them. "0" means out of service. */
const LINES = [
  '10', '11', '12', '13', '15', '17', '18', '19', '20', '21', '22', '23', '25', '26', '29', '30', '31', '35',
  '38', '40', '41', '42', '43', '46', '50', '51', '52', '53', '60', '61', '008', '009', 'ESP01', 'ESP02', 'ESP03',
]
const PLACES = ['Alvorada', 'Jardim Oceânico', 'Santa Cruz', 'Campo Grande', 'Madureira', 'Penha', 'Galeão', 'Fundão', 'Recreio', 'Barra da Tijuca', 'Gentileza', 'Pingo d’Água']

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface SimVehicle {
  codigo: string
  placa: string
  linha: string
  /** Route end points; the vehicle shuttles between them. */
  from: [number, number]
  to: [number, number]
  progress: number
  forward: boolean
  speedKmh: number
  hodometro: number
  lastFixMs: number
  lastDirecao: number | string
  lat: number
  lon: number
  /** Anomaly kind, fixed per vehicle so rates stay stable from call to call. */
  kind: 'normal' | 'junk' | 'frozen' | 'y2000' | 'zero' | 'outside'
  /** Parked: sends its last fix again and again (stale after 10 minutes). */
  parked: boolean
  /** Out of the feed for now. */
  absent: boolean
  trajetoId: string
  trajeto: string
  capacityStanding: number
  capacitySeated: number
  ignicao: 0 | 1
}

/**
 * The fleet itself, without HTTP: `next(nowMs)` returns the API body for a call at `nowMs`.
 * Benchmarks and backfills use it directly.
 */
export class SimulatedFleet {
  private readonly rand: () => number
  private readonly fleet: SimVehicle[]
  private started = false
  private readonly absentRate: number
  private readonly adversarial: boolean

  constructor(options: FleetOptions = {}) {
    const count = options.vehicles ?? 800
    this.absentRate = options.absentRate ?? 0.04
    this.adversarial = options.adversarial ?? false
    this.rand = prng(options.seed ?? 42)
    const lineRoutes = new Map<string, { from: [number, number]; to: [number, number] }>()
    for (const line of LINES) {
      lineRoutes.set(line, {
        from: [-23.0 + (this.rand() - 0.5) * 0.12, -43.55 + (this.rand() - 0.5) * 0.4],
        to: [-22.9 + (this.rand() - 0.5) * 0.12, -43.35 + (this.rand() - 0.5) * 0.4],
      })
    }
    this.fleet = []
    for (let i = 0; i < count; i++) {
      const r = this.rand()
      const kind: SimVehicle['kind'] =
        r < 0.006 ? 'junk' : r < 0.035 ? 'frozen' : r < 0.04 ? 'y2000' : r < 0.05 ? 'zero' : r < 0.055 ? 'outside' : 'normal'
      const inService = this.rand() > 0.09
      const line = inService ? LINES[Math.floor(this.rand() * LINES.length)]! : this.rand() < 0.85 ? '0' : ''
      const route = lineRoutes.get(line) ?? lineRoutes.get('10')!
      const a = PLACES[Math.floor(this.rand() * PLACES.length)]!
      const b = PLACES[Math.floor(this.rand() * PLACES.length)]!
      this.fleet.push({
        codigo: kind === 'junk' ? (i % 2 === 0 ? `TESTE${700 + i}` : `KXM${6400 + i} SAVEIRO`) : String(40000 + i * 7),
        placa: this.rand() < 0.08 ? `KXM${String(1000 + i).slice(-4)}` : '',
        linha: line,
        from: route.from,
        to: route.to,
        progress: this.rand(),
        forward: this.rand() < 0.5,
        speedKmh: 0,
        hodometro: kind === 'normal' && this.rand() < 0.01 ? -(this.rand() * 1000) : Math.round(this.rand() * 400000 * 10) / 10,
        lastFixMs: 0,
        lastDirecao: 0,
        lat: 0,
        lon: 0,
        kind,
        trajetoId: this.rand() < 0.2 ? '' : String(Math.floor(this.rand() * 90000) + 10000),
        trajeto: line === '0' || line === '' ? '' : `${line} - ${a} x ${b} (Parador)`,
        capacityStanding: 80 + Math.floor(this.rand() * 60),
        capacitySeated: 30 + Math.floor(this.rand() * 30),
        ignicao: 1,
        parked: false,
        absent: false,
      })
    }
  }

  get size(): number {
    return this.fleet.length
  }

  /** The API body for a call at `nowMs` (epoch ms). Calls must come in time order. */
  next(nowMs: number): BrtPayload {
    const rows: RawVehicle[] = []
    // A vehicle leaves the feed for ABSENT_CALLS calls on average, so that `absentRate` of the
    // fleet is missing from each answer (with 800 vehicles: about 770 per call).
    const leave = this.absentRate > 0 ? (this.absentRate / (1 - this.absentRate)) / ABSENT_CALLS : 0
    for (const v of this.fleet) {
      this.advance(v, nowMs)
      // Drawn for every vehicle, present or not, so the sequence (and the data) stays deterministic.
      const r = this.rand()
      v.absent = this.started || this.absentRate === 0 ? (v.absent ? r >= 1 / ABSENT_CALLS : r < leave) : r < this.absentRate
      if (!v.absent) rows.push(this.row(v))
    }
    if (this.adversarial) this.corrupt(rows, nowMs)
    this.started = true
    return { veiculos: rows }
  }

  /**
   * Adversarial mode: every call carries one of each broken value, and a few ordinary rows get a
   * field replaced by a weird value. All of it must be flagged by silver and kept out of gold.
   */
  private corrupt(rows: RawVehicle[], nowMs: number): void {
    const valid = (lat: number, lon: number): RawVehicle => ({
      placa: '', latitude: lat, longitude: lon, id_migracao_trajeto: '', sentido: 'ida', trajeto: 'ADV', hodometro: 1,
      direcao: 90, ignicao: 1, capacidadePeVeiculo: 100, capacidadeSentadoVeiculo: 40,
    })
    const fresh = nowMs - 5_000
    rows.push(
      // A line served by one vehicle, driving backwards: the line's average must not go negative.
      { ...valid(-22.95, -43.4), codigo: 'ADV0001', linha: 'ADV1', dataHora: fresh, velocidade: -5 },
      { ...valid(-22.95, -43.41), codigo: 'ADV0002', linha: '22', dataHora: fresh, velocidade: 900 },
      { ...valid(-22.95, -43.42), codigo: 'ADV0003', linha: '22', dataHora: nowMs + 2 * 86_400_000, velocidade: 30 },
      { ...valid(-22.95, -43.43), codigo: 'ADV0004', linha: '22', dataHora: -62_167_219_200_000, velocidade: 30 },
      { ...valid(-22.95, -43.44), codigo: 'ADV0005', linha: '22', dataHora: 253_402_300_800_000 + 1, velocidade: 30 },
      { ...valid(-22.95, -43.45), codigo: 'ADV0006', linha: '22', dataHora: 'NaN', velocidade: 'Infinity' },
      { ...valid(Number.NaN, -43.46), codigo: 'ADV0007', linha: '22', dataHora: fresh, velocidade: 'NaN', latitude: 'NaN', longitude: '-Infinity', direcao: 'NaN' },
      { codigo: 'ADV0008', dataHora: fresh },
      { linha: '22', latitude: -22.95, longitude: -43.47, dataHora: fresh, velocidade: 20 },
      { ...valid(-22.95, -43.48), codigo: 'ADV0009', linha: '22', dataHora: String(fresh), velocidade: '1e309', hodometro: 'Infinity', capacidadePeVeiculo: '1.5' },
      { ...valid(-22.95, -43.49), codigo: 'TESTE0010', linha: '22', dataHora: fresh, velocidade: 40 },
    )
    for (const row of rows) {
      if (this.rand() >= 0.02) continue
      const keys = Object.keys(row)
      const key = keys[Math.floor(this.rand() * keys.length)]!
      row[key] = WEIRD_VALUES[Math.floor(this.rand() * WEIRD_VALUES.length)]
    }
  }

  private advance(v: SimVehicle, nowMs: number): void {
    const first = !this.started
    if (v.kind === 'frozen') {
      // A unit whose modem died days or months ago: always the same stale signal.
      if (first) v.lastFixMs = nowMs - Math.floor((1 + this.rand() * 120) * 86_400_000)
      return this.place(v)
    }
    if (v.kind === 'y2000') {
      if (first) v.lastFixMs = Date.UTC(2000, 0, 1, Math.floor(this.rand() * 24), Math.floor(this.rand() * 60))
      return this.place(v)
    }
    // Parked vehicles (garage, end of line, ignition off) keep sending their last fix for hours.
    const r = this.rand()
    if (first) {
      v.parked = r < PARKED_SHARE
      if (v.parked) {
        v.lastFixMs = nowMs - Math.floor(this.rand() * 4 * 3_600_000)
        v.speedKmh = 0
        v.ignicao = 0
        this.direction(v)
        return this.place(v)
      }
    } else if (v.parked) {
      if (r >= 1 / PARKED_CALLS) return
      v.parked = false
    } else if (r < PARKED_SHARE / (1 - PARKED_SHARE) / PARKED_CALLS) {
      v.parked = true
      v.speedKmh = 0
      return
    }
    // About 3 in 4 active vehicles send a new fix between two calls a minute apart; the rest
    // repeat the previous one. With the parked and frozen ones, 22-47 % of rows repeat the last call.
    const fresh = first || this.rand() < 0.74
    if (!fresh) return
    const dtS = first ? 0 : Math.max(0, (nowMs - v.lastFixMs) / 1000)
    const moving = v.linha !== '0' && v.linha !== '' && this.rand() > 0.22
    v.speedKmh = moving ? Math.round((8 + this.rand() * 62 + (this.rand() < 0.02 ? 50 : 0)) * 10) / 10 : 0
    v.ignicao = moving || this.rand() < 0.6 ? 1 : 0
    const [la, lo] = v.from
    const [lb, lob] = v.to
    const lengthKm = Math.hypot((lb - la) * 111, (lob - lo) * 102) || 1
    let step = ((v.speedKmh * dtS) / 3600 / lengthKm) * (v.forward ? 1 : -1)
    v.progress += step
    if (v.progress > 1 || v.progress < 0) {
      v.forward = !v.forward
      v.progress = Math.min(1, Math.max(0, v.progress))
      step = -step
    }
    v.hodometro = Math.round((v.hodometro + (v.speedKmh * dtS) / 3600) * 10) / 10
    v.lastFixMs = nowMs - Math.floor(this.rand() * 30_000)
    this.direction(v)
    this.place(v)
  }

  /** Heading along the route; about 6 % blank (" " or "") and 1 % above 360, as in the real feed. */
  private direction(v: SimVehicle): void {
    const [la, lo] = v.from
    const [lb, lob] = v.to
    const bearing = (Math.atan2(lob - lo, lb - la) * 180) / Math.PI
    const d = Math.round((bearing + (v.forward ? 360 : 540)) % 360)
    const r = this.rand()
    v.lastDirecao = r < 0.04 ? ' ' : r < 0.06 ? '' : r < 0.07 ? d + 360 : d
  }

  private place(v: SimVehicle): void {
    if (v.kind === 'zero') {
      v.lat = 0
      v.lon = 0
      return
    }
    if (v.kind === 'outside') {
      // A bus sent to the garage in Niterói or a GPS glitch: outside the Rio bounding box.
      v.lat = -22.88 + (v.codigo.length % 3) * 0.01
      v.lon = -43.05
      return
    }
    const [la, lo] = v.from
    const [lb, lob] = v.to
    v.lat = Math.round((la + (lb - la) * v.progress) * 1e7) / 1e7
    v.lon = Math.round((lo + (lob - lo) * v.progress) * 1e7) / 1e7
  }

  private row(v: SimVehicle): RawVehicle {
    return {
      codigo: v.codigo,
      placa: v.placa,
      linha: v.linha,
      latitude: v.lat,
      longitude: v.lon,
      dataHora: v.lastFixMs,
      velocidade: v.kind === 'frozen' || v.kind === 'y2000' ? 0 : v.speedKmh,
      id_migracao_trajeto: v.trajetoId,
      sentido: v.linha === '0' || v.linha === '' ? '' : v.forward ? 'ida' : 'volta',
      trajeto: v.trajeto,
      hodometro: v.hodometro,
      direcao: v.lastDirecao,
      ignicao: v.ignicao,
      capacidadePeVeiculo: v.capacityStanding,
      capacidadeSentadoVeiculo: v.capacitySeated,
    }
  }
}

export interface SimulatorOptions {
  readonly port?: number
  readonly host?: string
  readonly vehicles?: number
  readonly seed?: number
  /** See FleetOptions.absentRate. */
  readonly absentRate?: number
  /** See FleetOptions.adversarial. */
  readonly adversarial?: boolean
  /**
   * Deterministic clock for tests: the first call is at `startTime` (epoch ms) and each successful
   * call advances `stepSeconds`. Without it the fleet follows the wall clock.
   */
  readonly startTime?: number
  readonly stepSeconds?: number
  /** How long `slow` answers wait (default 30 s, past any sensible client timeout). */
  readonly slowMs?: number
}

export interface Simulator {
  /** The GPS endpoint, e.g. `http://127.0.0.1:8090/gps/brt`. */
  readonly url: string
  /** Answer the next `times` calls (default: all, until set back to 'none') with a fault. */
  setFault(mode: FaultMode, times?: number): void
  /** Successful calls served so far. */
  readonly calls: number
  close(): Promise<void>
}

/**
 * Serve a simulated fleet. Routes: `GET /gps/brt` (and `GET /`), `POST /_sim/fault?mode=..&times=..`,
 * `GET /_sim/state`.
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const fleet = new SimulatedFleet({
    vehicles: options.vehicles ?? 800,
    seed: options.seed ?? 42,
    adversarial: options.adversarial ?? false,
    ...(options.absentRate !== undefined ? { absentRate: options.absentRate } : {}),
  })
  const host = options.host ?? '127.0.0.1'
  const slowMs = options.slowMs ?? 30_000
  let fault: FaultMode = 'none'
  let faultTimes = Infinity
  let calls = 0
  const pendingSlow = new Set<NodeJS.Timeout>()

  const clock = (): number =>
    options.startTime !== undefined ? options.startTime + calls * (options.stepSeconds ?? 60) * 1000 : Date.now()

  const takeFault = (): FaultMode => {
    if (fault === 'none') return 'none'
    const current = fault
    faultTimes -= 1
    if (faultTimes <= 0) fault = 'none'
    return current
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sim')
    if (url.pathname === '/_sim/fault' && req.method === 'POST') {
      const mode = url.searchParams.get('mode') ?? 'none'
      if (!FAULT_MODES.includes(mode as FaultMode)) {
        res.writeHead(400, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: `mode must be one of ${FAULT_MODES.join(', ')}` }))
        return
      }
      const times = url.searchParams.get('times')
      setFault(mode as FaultMode, times === null ? undefined : Number(times))
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ fault, times: faultTimes === Infinity ? null : faultTimes }))
      return
    }
    if (url.pathname === '/_sim/state') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ vehicles: fleet.size, calls, fault }))
      return
    }
    if (req.method !== 'GET' || (url.pathname !== '/gps/brt' && url.pathname !== '/')) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'not found: the GPS feed is at GET /gps/brt' }))
      return
    }
    const mode = takeFault()
    switch (mode) {
      case 'http500':
        res.writeHead(500, { 'content-type': 'text/html' })
        res.end('<html><body>Internal Server Error</body></html>')
        return
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"veiculos": [{"codigo": "40001", "linha": "22", "latitude": -22.9')
        return
      case 'empty':
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"veiculos": []}')
        return
      case 'slow': {
        const timer = setTimeout(() => {
          pendingSlow.delete(timer)
          if (!res.destroyed) {
            res.writeHead(200, { 'content-type': 'application/json' })
            res.end('{"veiculos": []}')
          }
        }, slowMs)
        pendingSlow.add(timer)
        req.on('close', () => {
          clearTimeout(timer)
          pendingSlow.delete(timer)
        })
        return
      }
      case 'none': {
        const body = JSON.stringify(fleet.next(clock()))
        calls += 1
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
        res.end(body)
        return
      }
    }
  })

  function setFault(mode: FaultMode, times?: number): void {
    fault = mode
    faultTimes = times === undefined || !Number.isFinite(times) || times <= 0 ? Infinity : times
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const shownHost = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${shownHost}:${port}/gps/brt`,
    setFault,
    get calls() {
      return calls
    },
    async close() {
      for (const t of pendingSlow) clearTimeout(t)
      pendingSlow.clear()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
