/** Run states, shared by flow runs and task runs. Mirrored by CHECK constraints in migration 0001. */
export const STATES = Object.freeze([
  'scheduled',
  'pending',
  'running',
  'retrying',
  'success',
  'failed',
  'skipped',
  'cancelling',
  'cancelled',
  'crashed',
] as const)

export type State = (typeof STATES)[number]

export const TERMINAL_STATES: ReadonlySet<State> = new Set(['success', 'failed', 'skipped', 'cancelled', 'crashed'])
/** States in which some process is (or is about to be) executing the run. */
export const ACTIVE_STATES: ReadonlySet<State> = new Set(['pending', 'running', 'retrying', 'cancelling'])

export function isState(value: unknown): value is State {
  return typeof value === 'string' && (STATES as readonly string[]).includes(value)
}

export function isTerminal(state: State): boolean {
  return TERMINAL_STATES.has(state)
}
