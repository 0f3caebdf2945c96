/**
 * The task graph of a run, drawn from its data flow: a task run whose inputs came from another's
 * result depends on it (the SDK records `inputs`, src/sdk/task.ts). Task runs of one task (a map
 * over items, a task called in a loop, retries of the flow) are one node with their count, so a
 * fan-out reads as one node feeding one "× 12" node rather than twelve boxes. Nodes sit in layers by
 * their longest chain of inputs (left to right; top to bottom on a narrow screen), and are
 * coloured by their live state. Tasks the flow has but this run did not reach are grey, last.
 */
import { useWidth } from './charts.tsx'
import { stateColor } from './common.tsx'
import type { State, TaskRun } from '../types.ts'

export interface DagNode {
  name: string
  runs: TaskRun[]
  /** The state of the group: the most telling of its runs' states. */
  state: State | 'not-started'
  layer: number
  order: number
}

export interface Dag {
  nodes: DagNode[]
  edges: { from: string; to: string }[]
}

/** Which state a group of task runs shows: work in progress first, then failures, then the rest. */
const PRIORITY: readonly State[] = ['running', 'retrying', 'pending', 'cancelling', 'crashed', 'failed', 'cancelled', 'scheduled', 'success', 'skipped']

function groupState(runs: readonly TaskRun[]): State {
  let best: State = runs[0]?.state ?? 'scheduled'
  for (const r of runs) if (PRIORITY.indexOf(r.state) < PRIORITY.indexOf(best)) best = r.state
  return best
}

/** Groups task runs by task, links groups by data flow, and layers them (pure: tested through the page). */
export function buildDag(taskRuns: readonly TaskRun[], declared: readonly string[] = []): Dag {
  const byId = new Map(taskRuns.map((t) => [t.id, t]))
  // A task run's layer: one more than the deepest of its inputs (inputs always ran before it).
  const layerOf = new Map<string, number>()
  const visiting = new Set<string>()
  const layer = (t: TaskRun): number => {
    const known = layerOf.get(t.id)
    if (known !== undefined) return known
    if (visiting.has(t.id)) return 0
    visiting.add(t.id)
    let l = 0
    for (const id of t.inputs) {
      const input = byId.get(id)
      if (input) l = Math.max(l, layer(input) + 1)
    }
    visiting.delete(t.id)
    layerOf.set(t.id, l)
    return l
  }
  const groups = new Map<string, TaskRun[]>()
  for (const t of [...taskRuns].sort((a, b) => a.position - b.position)) {
    const list = groups.get(t.taskName) ?? []
    list.push(t)
    groups.set(t.taskName, list)
  }
  const edges = new Map<string, { from: string; to: string }>()
  for (const t of taskRuns) {
    for (const id of t.inputs) {
      const from = byId.get(id)?.taskName
      if (from !== undefined && from !== t.taskName) edges.set(`${from}\u0000${t.taskName}`, { from, to: t.taskName })
    }
  }
  const nodes: DagNode[] = [...groups.entries()].map(([name, runs]) => ({ name, runs, state: groupState(runs), layer: Math.min(...runs.map(layer)), order: Math.min(...runs.map((r) => r.position)) }))
  const deepest = nodes.reduce((m, n) => Math.max(m, n.layer), -1)
  declared
    .filter((name) => !groups.has(name))
    .forEach((name, i) => nodes.push({ name, runs: [], state: 'not-started', layer: deepest + 1, order: 1_000_000 + i }))
  nodes.sort((a, b) => a.layer - b.layer || a.order - b.order)
  return { nodes, edges: [...edges.values()] }
}

/**
 * Where each node sits across its layer: the first layer in order, each next node at the mean
 * slot of the nodes that feed it (so a chain stays straight and an edge that skips a layer passes
 * beside, not through, the nodes in between), pushed apart so no two share a slot.
 */
export function crossSlots(dag: Dag): Map<string, number> {
  const slot = new Map<string, number>()
  const feeders = new Map<string, string[]>()
  for (const e of dag.edges) feeders.set(e.to, [...(feeders.get(e.to) ?? []), e.from])
  const layers: DagNode[][] = []
  for (const n of dag.nodes) (layers[n.layer] ??= []).push(n)
  for (const nodes of layers) {
    if (!nodes) continue
    const wanted = nodes.map((n, i) => {
      const placed = (feeders.get(n.name) ?? []).map((f) => slot.get(f)).filter((v): v is number => v !== undefined)
      return { n, want: placed.length ? placed.reduce((a, b) => a + b, 0) / placed.length : i, i }
    })
    wanted.sort((a, b) => a.want - b.want || a.i - b.i)
    let next = 0
    for (const w of wanted) {
      const at = Math.max(next, Math.round(w.want))
      slot.set(w.n.name, at)
      next = at + 1
    }
  }
  return slot
}

function summary(n: DagNode): string {
  if (n.runs.length === 0) return 'not started'
  if (n.runs.length === 1) return n.state
  const counts = new Map<string, number>()
  for (const r of n.runs) counts.set(r.state, (counts.get(r.state) ?? 0) + 1)
  return [...counts.entries()].map(([s, c]) => `${c} ${s}`).join(', ')
}

export function TaskDag({ taskRuns, declared = [] }: { taskRuns: readonly TaskRun[]; declared?: readonly string[] }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  const dag = buildDag(taskRuns, declared)
  const vertical = width < 560
  const slots = crossSlots(dag)
  const across = Math.max(1, ...[...slots.values()].map((v) => v + 1))
  const gapMain = vertical ? 34 : 56
  const gapCross = vertical ? 10 : 14
  // Down a phone, nodes share the width (scrolling sideways only past three or four side by side).
  const nodeW = vertical ? Math.max(104, Math.min(220, Math.floor((width - 8 - (across - 1) * gapCross) / across))) : 170
  const nodeH = 44
  const layerCount = dag.nodes.reduce((m, n) => Math.max(m, n.layer + 1), 0)
  // Layers run along the main axis; the nodes of one layer (parallel branches) side by side across it.
  const pos = new Map<string, { x: number; y: number }>()
  let crossMax = 0
  for (const n of dag.nodes) {
    const main = n.layer * ((vertical ? nodeH : nodeW) + gapMain)
    const cross = (slots.get(n.name) ?? 0) * ((vertical ? nodeW : nodeH) + gapCross)
    crossMax = Math.max(crossMax, cross + (vertical ? nodeW : nodeH))
    pos.set(n.name, vertical ? { x: 4 + cross, y: 4 + main } : { x: 4 + main, y: 4 + cross })
  }
  const mainMax = Math.max(0, layerCount * ((vertical ? nodeH : nodeW) + gapMain) - gapMain)
  const w = (vertical ? crossMax : mainMax) + 8
  const h = (vertical ? mainMax : crossMax) + 8
  const maxChars = Math.floor((nodeW - 22) / 7.4)
  return (
    <div ref={ref} class="chart dag" style={{ overflowX: 'auto' }}>
      <svg width={Math.max(w, 10)} height={Math.max(h, 10)} role="img" aria-label={`Task graph: ${dag.nodes.length} tasks, ${dag.edges.length} dependencies`} data-testid="task-dag">
        <defs>
          <marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="edge-arrow" />
          </marker>
        </defs>
        {dag.edges.map((e) => {
          const a = pos.get(e.from)
          const b = pos.get(e.to)
          if (!a || !b) return null
          const d = vertical
            ? `M${a.x + nodeW / 2},${a.y + nodeH} C${a.x + nodeW / 2},${a.y + nodeH + gapMain / 1.5} ${b.x + nodeW / 2},${b.y - gapMain / 1.5} ${b.x + nodeW / 2},${b.y - 2}`
            : `M${a.x + nodeW},${a.y + nodeH / 2} C${a.x + nodeW + gapMain / 1.5},${a.y + nodeH / 2} ${b.x - gapMain / 1.5},${b.y + nodeH / 2} ${b.x - 2},${b.y + nodeH / 2}`
          return <path key={`${e.from}>${e.to}`} d={d} class="edge" marker-end="url(#dag-arrow)" data-from={e.from} data-to={e.to} />
        })}
        {dag.nodes.map((n) => {
          const p = pos.get(n.name) as { x: number; y: number }
          const color = n.state === 'not-started' ? 'var(--idle)' : stateColor(n.state)
          const label = n.runs.length > 1 ? `${n.name} × ${n.runs.length}` : n.name
          return (
            <g key={n.name} data-task={n.name} data-state={n.state} data-count={n.runs.length} data-layer={n.layer}>
              <title>{`${n.name}: ${summary(n)}`}</title>
              <rect x={p.x} y={p.y} width={nodeW} height={nodeH} rx={8} class="node" style={{ stroke: color }} />
              <rect x={p.x} y={p.y} width={6} height={nodeH} rx={3} style={{ fill: color }} />
              <text x={p.x + 14} y={p.y + 18} class="node-label">
                {label.length > maxChars ? `${label.slice(0, maxChars - 1)}…` : label}
              </text>
              <text x={p.x + 14} y={p.y + 34} class="node-state">
                {summary(n).length > maxChars + 4 ? `${summary(n).slice(0, maxChars + 3)}…` : summary(n)}
              </text>
            </g>
          )
        })}
      </svg>
    </div>
  )
}
