/** The scheduled flow of the comparison, registered only for the scheduling-lag measure. */
import { defineFlow, task } from 'rota'

const light = task('light', async () => {
  const end = performance.now() + 10
  while (performance.now() < end) {
    // busy, like the Python task
  }
})

export const tick = defineFlow({ name: 'tick', schedule: { interval: '10s' }, tasks: [light] }, async () => {
  await light()
})
