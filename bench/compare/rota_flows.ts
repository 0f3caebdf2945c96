/** The benchmark's flows for Rota: the same work as prefect_flows.py. */
import { defineFlow, task } from 'rota'

// ~10 ms of work (the format of Windmill's published benchmark: 40 light sequential tasks)
const light = task('light', async () => {
  const end = performance.now() + 10
  while (performance.now() < end) {
    // busy, like the Python task
  }
})

export const light40 = defineFlow({ name: 'light-40', tasks: [light] }, async () => {
  for (let i = 0; i < 40; i++) await light()
})

export const light1 = defineFlow({ name: 'light-1', tasks: [light] }, async () => {
  await light()
})
