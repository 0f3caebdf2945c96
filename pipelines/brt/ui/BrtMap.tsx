/**
 * Latest BRT vehicle positions over a hand-drawn outline of Rio, in Web Mercator so that the optional
 * OpenStreetMap tile layer (online only) lines up with the dots. The outline and the corridors are
 * approximate, for orientation; nothing here needs the internet.
 */
import { useMemo, useState } from 'preact/hooks'
import type { BrtVehicle } from '../contract.ts'
import { useWidth } from '../../../src/ui/components/charts.tsx'
import { formatNumber, relativeTime } from '../../../src/ui/format.ts'

export const RIO_BOX = { latMin: -23.1, latMax: -22.7, lonMin: -43.8, lonMax: -43.1 } as const

const TILE = 256
function mercX(lon: number): number {
  return ((lon + 180) / 360) * TILE
}
function mercY(lat: number): number {
  const r = (lat * Math.PI) / 180
  return ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * TILE
}
const X0 = mercX(RIO_BOX.lonMin)
const X1 = mercX(RIO_BOX.lonMax)
const Y0 = mercY(RIO_BOX.latMax)
const Y1 = mercY(RIO_BOX.latMin)
const ASPECT = (Y1 - Y0) / (X1 - X0)

type LonLat = readonly [number, number]

// Approximate shorelines (lon, lat), traced by hand from public maps at roughly 1 km precision.
const MAINLAND: LonLat[] = [
  [-43.8, -22.7], [-43.23, -22.7], [-43.24, -22.74], [-43.28, -22.79], [-43.29, -22.82], [-43.27, -22.84],
  [-43.245, -22.855], [-43.24, -22.87], [-43.215, -22.88], [-43.19, -22.893], [-43.17, -22.903], [-43.163, -22.91],
  [-43.172, -22.915], [-43.17, -22.925], [-43.17, -22.94], [-43.155, -22.95], [-43.165, -22.963], [-43.18, -22.97],
  [-43.19, -22.988], [-43.22, -22.99], [-43.25, -22.998], [-43.27, -23.0], [-43.29, -23.01], [-43.33, -23.011],
  [-43.4, -23.016], [-43.47, -23.03], [-43.5, -23.04], [-43.52, -23.05], [-43.57, -23.06], [-43.6, -23.02],
  [-43.63, -23.0], [-43.7, -22.97], [-43.75, -22.94], [-43.8, -22.93],
]
const MARAMBAIA: LonLat[] = [[-43.57, -23.058], [-43.8, -23.068], [-43.8, -23.078], [-43.57, -23.066]]
const GOVERNADOR: LonLat[] = [[-43.25, -22.8], [-43.22, -22.775], [-43.17, -22.78], [-43.16, -22.81], [-43.2, -22.83], [-43.24, -22.82]]
const NITEROI: LonLat[] = [[-43.1, -22.84], [-43.125, -22.87], [-43.135, -22.895], [-43.115, -22.93], [-43.1, -22.96]]
const LAGOONS: LonLat[][] = [
  [[-43.215, -22.965], [-43.2, -22.965], [-43.2, -22.98], [-43.215, -22.98]],
  [[-43.42, -22.985], [-43.36, -22.98], [-43.35, -22.99], [-43.41, -22.995]],
]

const CORRIDORS: { name: string; path: LonLat[] }[] = [
  { name: 'TransOeste', path: [[-43.31, -23.003], [-43.4, -23.0], [-43.47, -23.01], [-43.55, -22.99], [-43.62, -22.95], [-43.69, -22.92]] },
  { name: 'TransCarioca', path: [[-43.365, -22.999], [-43.36, -22.95], [-43.34, -22.875], [-43.28, -22.84], [-43.24, -22.81]] },
  { name: 'TransOlímpica', path: [[-43.44, -23.0], [-43.41, -22.93], [-43.385, -22.857]] },
  { name: 'TransBrasil', path: [[-43.385, -22.857], [-43.3, -22.85], [-43.22, -22.878], [-43.19, -22.9]] },
]

const PLACES: { name: string; at: LonLat }[] = [
  { name: 'Centro', at: [-43.185, -22.905] },
  { name: 'Barra', at: [-43.36, -23.005] },
  { name: 'Recreio', at: [-43.47, -23.022] },
  { name: 'Campo Grande', at: [-43.56, -22.9] },
  { name: 'Santa Cruz', at: [-43.69, -22.915] },
  { name: 'Galeão', at: [-43.245, -22.805] },
  { name: 'Madureira', at: [-43.34, -22.872] },
  { name: 'Deodoro', at: [-43.39, -22.852] },
  { name: 'Guaratiba', at: [-43.59, -23.0] },
  { name: 'Atlantic Ocean', at: [-43.42, -23.07] },
  { name: 'Guanabara Bay', at: [-43.18, -22.84] },
]

/** A stable colour per line: the same line keeps its colour across refreshes. */
const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#ea580c', '#4f46e5', '#be123c', '#0d9488']
export const NO_LINE = 'no line'
export function lineColor(line: string | null): string {
  if (line === null || line === NO_LINE) return '#64748b'
  let h = 0
  for (let i = 0; i < line.length; i++) h = (h * 31 + line.charCodeAt(i)) >>> 0
  return PALETTE[h % PALETTE.length]!
}

export function inRio(v: { latitude: number; longitude: number }): boolean {
  return v.latitude >= RIO_BOX.latMin && v.latitude <= RIO_BOX.latMax && v.longitude >= RIO_BOX.lonMin && v.longitude <= RIO_BOX.lonMax
}

const TILES_KEY = 'rota.brt.tiles'

export function BrtMap({ vehicles, now }: { vehicles: BrtVehicle[]; now: number }) {
  const [ref, width] = useWidth<HTMLDivElement>(800)
  const [tiles, setTiles] = useState(() => localStorage.getItem(TILES_KEY) === 'on')
  const [focus, setFocus] = useState<string | null>(null)
  const w = Math.max(260, width)
  const h = Math.round(w * ASPECT)
  const scale = w / (X1 - X0)
  const px = (lon: number) => (mercX(lon) - X0) * scale
  const py = (lat: number) => (mercY(lat) - Y0) * scale
  const poly = (pts: LonLat[]) => pts.map(([lo, la]) => `${px(lo).toFixed(1)},${py(la).toFixed(1)}`).join(' ')

  const shown = vehicles.filter(inRio)
  const outside = vehicles.length - shown.length
  const lines = useMemo(() => [...new Set(vehicles.map((v) => v.line ?? NO_LINE))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true })), [vehicles])

  const tileImages = useMemo(() => {
    if (!tiles) return []
    // Pick the zoom whose tiles are drawn at >= their natural size.
    const z = Math.min(15, Math.max(8, Math.ceil(Math.log2(scale))))
    const n = 2 ** z
    const out: { key: string; href: string; x: number; y: number; size: number }[] = []
    const size = (TILE / n) * scale
    for (let tx = Math.floor((X0 / TILE) * n); tx <= Math.floor((X1 / TILE) * n); tx++) {
      for (let ty = Math.floor((Y0 / TILE) * n); ty <= Math.floor((Y1 / TILE) * n); ty++) {
        out.push({ key: `${z}/${tx}/${ty}`, href: `https://tile.openstreetmap.org/${z}/${tx}/${ty}.png`, x: ((tx * TILE) / n - X0) * scale, y: ((ty * TILE) / n - Y0) * scale, size })
      }
    }
    return out
  }, [tiles, scale])

  const toggleTiles = () => {
    const next = !tiles
    setTiles(next)
    localStorage.setItem(TILES_KEY, next ? 'on' : 'off')
  }

  return (
    <div class="brt-map-wrap">
      <div ref={ref} class="brt-map" data-vehicles={shown.length}>
        <svg width={w} height={h} role="img" aria-label={`Map of ${shown.length} BRT vehicles in Rio de Janeiro`}>
          <rect width={w} height={h} class="water" />
          {tileImages.map((t) => (
            <image key={t.key} href={t.href} x={t.x} y={t.y} width={t.size + 0.5} height={t.size + 0.5} />
          ))}
          <g class={tiles ? 'land outline-only' : 'land'}>
            <polygon points={poly(MAINLAND)} />
            <polygon points={poly(MARAMBAIA)} />
            <polygon points={poly(GOVERNADOR)} />
            <polygon points={`${poly(NITEROI)} ${px(-43.1)},${py(-22.84)}`} />
          </g>
          {!tiles ? LAGOONS.map((l, i) => <polygon key={i} points={poly(l)} class="lagoon" />) : null}
          {Array.from({ length: 8 }, (_, i) => -43.8 + i * 0.1).map((lon) => (
            <line key={`lon${lon}`} x1={px(lon)} x2={px(lon)} y1={0} y2={h} class="graticule" />
          ))}
          {Array.from({ length: 5 }, (_, i) => -23.1 + i * 0.1).map((lat) => (
            <line key={`lat${lat}`} x1={0} x2={w} y1={py(lat)} y2={py(lat)} class="graticule" />
          ))}
          {CORRIDORS.map((c) => (
            <polyline key={c.name} points={poly(c.path)} class="corridor">
              <title>{`${c.name} corridor (approximate)`}</title>
            </polyline>
          ))}
          {!tiles && w > 420
            ? PLACES.map((p) => (
                <text key={p.name} x={px(p.at[0])} y={py(p.at[1])} class={p.name.includes(' ') && !p.name.includes('Grande') && !p.name.includes('Cruz') ? 'place water-label' : 'place'} text-anchor="middle">
                  {p.name}
                </text>
              ))
            : null}
          {shown.map((v) => {
            const dim = focus !== null && (v.line ?? NO_LINE) !== focus
            return (
              <circle
                key={v.vehicleId}
                data-vehicle={v.vehicleId}
                cx={px(v.longitude)}
                cy={py(v.latitude)}
                r={w < 500 ? 3.5 : 4.5}
                fill={lineColor(v.line)}
                class={dim ? 'vehicle dim' : 'vehicle'}
              >
                <title>{`${v.vehicleId} · ${v.line === null ? 'no line' : `line ${v.line}`}\n${v.speedKmh === null ? 'speed unknown' : `${formatNumber(v.speedKmh, 1)} km/h`}\nGPS ${relativeTime(v.gpsTime, now)}`}</title>
              </circle>
            )
          })}
          <text x={w - 6} y={h - 6} class="attribution" text-anchor="end">
            {tiles ? '© OpenStreetMap contributors' : 'Outline approximate · lat −23.10…−22.70, lon −43.80…−43.10'}
          </text>
        </svg>
      </div>
      <div class="map-footer">
        <ul class="legend lines" aria-label="Lines">
          {lines.map((l) => (
            <li key={l}>
              <button type="button" class={focus === l ? 'chip active' : 'chip'} onClick={() => setFocus(focus === l ? null : l)} title="Highlight this line">
                <span class="swatch" style={{ background: lineColor(l) }} />
                {l}
              </button>
            </li>
          ))}
        </ul>
        <div class="map-meta">
          {outside > 0 ? <span class="muted">{outside} outside the map area · </span> : null}
          <label class="toggle-inline">
            <input type="checkbox" checked={tiles} onChange={toggleTiles} /> Map tiles (online)
          </label>
        </div>
      </div>
    </div>
  )
}
