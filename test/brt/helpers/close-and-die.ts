/** Child process for the crash test: closes a window and SIGKILLs itself at the given point. */
import { CaptureBuffer, type ClosePoint } from '../../../pipelines/brt/buffer.ts'
import { LocalLake } from '../../../pipelines/brt/lake.ts'

const [root, point] = process.argv.slice(2) as [string, ClosePoint]
const buffer = new CaptureBuffer(new LocalLake(root), { staleMs: 2000 })
await buffer.closeWindow({ capturesPerFile: 4, maxBufferMinutes: 15 }, {
  stopAt: (p) => {
    if (p === point) process.kill(process.pid, 'SIGKILL')
  },
})
