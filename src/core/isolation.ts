/**
 * Where an agent runs a flow run (see src/agent/shared.ts):
 * - `process`: in a process of its own (one per run): a crash, an OOM, a runaway loop or a global
 *   change (process.chdir, a patched module) touches only that run. The default.
 * - `shared`: in one of the agent's long-lived worker processes, among many runs at once, the flow's
 *   modules loaded once: a run starts in about a millisecond instead of paying a process start.
 * A flow may ask for one (`defineFlow({ isolation })`); otherwise the agent's `--isolation` decides.
 */
export const ISOLATIONS = Object.freeze(['process', 'shared'] as const)

export type Isolation = (typeof ISOLATIONS)[number]

export function isIsolation(value: unknown): value is Isolation {
  return typeof value === 'string' && (ISOLATIONS as readonly string[]).includes(value)
}
