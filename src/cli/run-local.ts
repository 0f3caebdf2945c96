/** `rota run --local`: one flow, in this process, no server; the terminal shows tasks and logs. */
import { randomUUID } from 'node:crypto'
import { loadFlowModule } from '../sdk/loader.ts'
import { resolveParameters, secretValues } from '../core/parameters.ts'
import { redactor, type Redactor } from '../core/redact.ts'
import { runFlow } from '../sdk/runtime.ts'
import { terminalReporter } from '../sdk/local-reporter.ts'
import { runName } from '../core/names.ts'
import { terminalSafe } from '../core/text.ts'

export async function runLocal(file: string, flowName: string | undefined, params: Record<string, string>): Promise<number> {
  const flows = await loadFlowModule(file)
  const chosen = flowName ? flows.find((f) => f.flow.name === flowName || f.exportName === flowName) : flows.length === 1 ? flows[0] : flows.find((f) => f.exportName === 'default')
  if (!chosen) {
    throw new Error(`${file} exports ${flows.map((f) => f.flow.name).join(', ')}; name the one to run: rota run --local ${file} <flow>`)
  }
  const parameters = resolveParameters(chosen.flow.parameters, params, { coerce: true })
  const name = runName()
  const controller = new AbortController()
  process.once('SIGINT', () => controller.abort())
  console.log(`running ${chosen.flow.name} locally as ${name}`)
  // The SDK hides the secrets in what the run reports; what the flow writes to this terminal past
  // it (process.stdout.write, a library printing) is hidden here.
  const restore = redactTerminal(redactor(secretValues(chosen.flow.parameters, parameters)))
  try {
    const outcome = await runFlow(chosen.flow, { flowRunId: randomUUID(), flowRunName: name, parameters, reporter: terminalReporter(), signal: controller.signal })
    console.log(`flow run ${name} ended ${outcome.state}: ${terminalSafe(outcome.message)}`)
    return outcome.state === 'success' ? 0 : 1
  } finally {
    restore()
  }
}

/** Redacts what is written to stdout and stderr until the returned function is called. */
function redactTerminal(secrets: Redactor): () => void {
  if (secrets.empty) return () => undefined
  const streams = [process.stdout, process.stderr]
  const originals = streams.map((stream) => stream.write)
  for (const stream of streams) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(typeof chunk === 'string' ? secrets.text(chunk) : chunk instanceof Uint8Array ? secrets.text(Buffer.from(chunk).toString('utf8')) : chunk, ...rest)) as typeof stream.write
  }
  return () => streams.forEach((stream, i) => (stream.write = originals[i] as typeof stream.write))
}
