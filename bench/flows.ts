/** Flows for the orchestrator benchmark. */
import { defineFlow, task } from 'rota'

const noop = task('noop', async () => undefined)

export const noop1 = defineFlow({ name: 'bench-noop-1', tasks: [noop] }, async () => {
  await noop()
})

export const noop40 = defineFlow({ name: 'bench-noop-40', tasks: [noop] }, async () => {
  for (let i = 0; i < 40; i++) await noop()
})

export const noop500 = defineFlow({ name: 'bench-noop-500', tasks: [noop] }, async () => {
  for (let i = 0; i < 500; i++) await noop()
})
