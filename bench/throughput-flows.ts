/** Flows for the throughput benchmark: one no-op task each, one flow per phase (their counts stay apart). */
import { defineFlow, task } from 'rota'

const noop = task('noop', async () => undefined)

export const sustainedShared = defineFlow({ name: 'throughput-shared', tasks: [noop] }, async () => {
  await noop()
})

export const burstShared = defineFlow({ name: 'throughput-burst', tasks: [noop] }, async () => {
  await noop()
})

export const sustainedProcess = defineFlow({ name: 'throughput-process', tasks: [noop] }, async () => {
  await noop()
})

export const warmUp = defineFlow({ name: 'throughput-warm-up', tasks: [noop] }, async () => {
  await noop()
})
