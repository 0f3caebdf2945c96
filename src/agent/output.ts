/**
 * A run's output: what its process prints outside its tasks (start-up errors, crashes, the run
 * process's own notes; console output inside tasks is captured by the SDK and reported by the
 * process itself). The agent owns it: one `RunOutput` per run, made when the run is launched and
 * closed when the run settles, whichever launcher runs it (a child process, a container). It
 * forwards each line to the run's logs (stdout as info, stderr as warn) through the same ordered,
 * retried reporter the run process uses, and to the agent's console if asked.
 *
 * Lines of any length: a line is kept up to MAX_LINE_BYTES, cut on a UTF-8 character boundary,
 * and what was cut is counted in a note at the end of the kept text, never held in memory. A run
 * that prints a 600 MiB line costs the agent 32 KiB, not a RangeError (readline would build the
 * whole line as one string, and V8 strings stop at 512 MiB).
 */
import type { RotaClient } from '../client/index.ts'
import { ServerReporter } from './reporter.ts'
import { redactor, secretStrings, type Redactor } from '../core/redact.ts'

/**
 * The longest line kept. Below the reporter's and the server's limits on one log line (60 and 64
 * KiB of text), so a forwarded line is never cut twice or refused.
 */
export const MAX_LINE_BYTES = 32 * 1024

export type OutputStream = 'stdout' | 'stderr'

export interface OutputLine {
  stream: OutputStream
  line: string
  /** When the line was printed (the engine's time for a container), or received. */
  time: Date
}

/** Where a launcher writes the lines of one run. */
export interface RunOutputSink {
  line(line: OutputLine): void
}

/**
 * Cuts bytes into lines (`\n`, `\r\n`) with bounded memory: at most `maxBytes` of a line are kept.
 */
export class LineSplitter {
  private parts: Buffer[] = []
  private kept = 0
  private cut = 0
  private pending = false

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxBytes = MAX_LINE_BYTES,
  ) {}

  write(chunk: Buffer): void {
    let start = 0
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start)
      const end = newline === -1 ? chunk.length : newline
      this.take(chunk.subarray(start, end))
      if (newline === -1) return
      this.emit()
      start = newline + 1
    }
  }

  /** The last line, if the stream did not end with a newline. */
  end(): void {
    if (this.pending) this.emit()
  }

  private take(piece: Buffer): void {
    this.pending = true
    const room = this.maxBytes - this.kept
    if (room > 0 && piece.length > 0) {
      const keep = piece.subarray(0, Math.min(room, piece.length))
      // A copy: a kept slice must not pin the whole chunk it came from.
      this.parts.push(Buffer.from(keep))
      this.kept += keep.length
    }
    this.cut += Math.max(0, piece.length - Math.max(0, room))
  }

  private emit(): void {
    let bytes = Buffer.concat(this.parts, this.kept)
    let cut = this.cut
    if (cut > 0) {
      const boundary = utf8Boundary(bytes)
      cut += bytes.length - boundary
      bytes = bytes.subarray(0, boundary)
    } else if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) {
      bytes = bytes.subarray(0, bytes.length - 1)
    }
    this.parts = []
    this.kept = 0
    this.cut = 0
    this.pending = false
    const text = bytes.toString('utf8')
    this.onLine(cut > 0 ? `${text}… [${cut.toLocaleString('en-US')} more bytes cut]` : text)
  }
}

/** The length of the longest prefix of `bytes` that ends on a UTF-8 character boundary. */
export function utf8Boundary(bytes: Buffer): number {
  const end = bytes.length
  // Find the first byte of the last character (at most 3 continuation bytes back).
  let lead = end - 1
  while (lead >= 0 && lead > end - 4 && ((bytes[lead] as number) & 0xc0) === 0x80) lead--
  if (lead < 0) return 0
  const b = bytes[lead] as number
  const size = b < 0x80 ? 1 : (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 1
  return lead + size <= end ? end : lead
}

/** Reads a stream to its end, line by line, with bounded memory; never rejects (an error ends it). */
export function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void, maxBytes = MAX_LINE_BYTES): Promise<void> {
  const splitter = new LineSplitter(onLine, maxBytes)
  return new Promise((resolve) => {
    let done = false
    const finish = () => {
      if (done) return
      done = true
      splitter.end()
      resolve()
    }
    stream.on('data', (chunk: Buffer | string) => splitter.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk))
    stream.once('end', finish)
    stream.once('close', finish)
    stream.once('error', finish)
  })
}

export interface RunOutputOptions {
  /** Each line, for the agent's console (the Docker agent prints them). */
  echo?: ((line: OutputLine & { flowRunId: string }) => void) | undefined
  /** Problems delivering the lines (the server unreachable, a refused batch). */
  onDeliveryError?: ((message: string) => void) | undefined
}

/** Lines echoed before the run's secrets are known wait for them, up to this many. */
const ECHO_HELD = 1000

/**
 * One run's output, forwarded to its logs. Made at launch, closed at settle. `client` acts for the
 * run (it carries the run's token). The server hides the run's secrets in what it stores; the echo
 * on the agent's console hides them too, once it knows them (from the run's execution details):
 * lines printed before that are held back a moment.
 */
export class RunOutput implements RunOutputSink {
  private readonly reporter: ServerReporter
  private closed = false
  private secrets: Redactor | undefined
  private held: OutputLine[] = []

  constructor(
    client: RotaClient,
    readonly flowRunId: string,
    private readonly options: RunOutputOptions = {},
  ) {
    this.reporter = new ServerReporter(client, flowRunId, options.onDeliveryError)
    if (options.echo) {
      void client.execution(flowRunId).then(
        (exec) => this.knowSecrets(redactor(exec.secretParameters.flatMap((name) => secretStrings(exec.parameters[name])))),
        (err: Error) => {
          options.onDeliveryError?.(`cannot read the run's secrets to hide them on this console (${err.message}); its lines are shown as printed`)
          this.knowSecrets(redactor([]))
        },
      )
    }
  }

  line(output: OutputLine): void {
    if (this.closed || output.line.trim() === '') return
    this.reporter.log(output.stream === 'stderr' ? 'warn' : 'info', output.line, undefined)
    if (!this.options.echo) return
    if (this.secrets) this.echo(output)
    else if (this.held.length < ECHO_HELD) this.held.push(output)
  }

  private knowSecrets(secrets: Redactor): void {
    this.secrets = secrets
    for (const line of this.held.splice(0)) this.echo(line)
  }

  private echo(output: OutputLine): void {
    this.options.echo?.({ ...output, line: this.secrets?.text(output.line) ?? output.line, flowRunId: this.flowRunId })
  }

  /**
   * Delivers what is queued, waiting at most `timeoutMs` (a dead server never holds a run's end).
   * Past that, a batch still in flight gets one more try and is then dropped, saying so: the run has
   * ended, and retrying its output for the reporter's give-up time (5 minutes) would only keep the
   * agent busy.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closed = true
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.reporter.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
    clearTimeout(timer)
    this.reporter.lastTry(`the run has ended and the server still took no output ${Math.round(timeoutMs / 1000)} s later`)
  }
}
