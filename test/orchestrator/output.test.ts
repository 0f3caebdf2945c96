/**
 * A run's output (src/agent/output.ts): lines of any length cost the agent bounded memory, are cut
 * on a UTF-8 boundary with a note of what was cut, and nothing else is lost.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { PassThrough } from 'node:stream'
import fc from 'fast-check'
import { LineSplitter, MAX_LINE_BYTES, readLines, RunOutput, utf8Boundary } from '../../src/agent/output.ts'
import { RotaClient } from '../../src/client/index.ts'

const NOTE = /… \[([\d,]+) more bytes cut\]$/

/** Splits `text` written in the given chunk sizes; returns the lines. */
function split(bytes: Buffer, chunkSizes: number[], maxBytes: number): string[] {
  const lines: string[] = []
  const s = new LineSplitter((l) => lines.push(l), maxBytes)
  let at = 0
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, chunkSizes[i % chunkSizes.length] ?? 1)
    s.write(bytes.subarray(at, at + size))
    at += size
  }
  s.end()
  return lines
}

describe('LineSplitter', () => {
  it('cuts a long line on a character boundary and says how much it cut', () => {
    const [line] = split(Buffer.from(`${'é'.repeat(10)}\n`), [3], 5) // é is 2 bytes: 5 bytes keep 2 characters
    assert.equal(line, 'éé… [16 more bytes cut]')
    assert.deepEqual(split(Buffer.from('a\r\nb\n\nc'), [1], 100), ['a', 'b', '', 'c'])
  })

  it('for any text and any chunking: short lines come out whole; long ones are their prefix, valid UTF-8, with the right count', () => {
    const text = fc.array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 300 })), { maxLength: 12 })
    fc.assert(
      fc.property(text, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 4, max: 120 }), (parts, chunks, maxBytes) => {
        const lines = parts.map((p) => p.replace(/[\r\n]/g, ' '))
        const out = split(Buffer.from(lines.map((l) => `${l}\n`).join('')), chunks, maxBytes)
        assert.equal(out.length, lines.length)
        lines.forEach((line, i) => {
          const got = out[i] as string
          const bytes = Buffer.byteLength(line)
          if (bytes <= maxBytes) return assert.equal(got, line)
          const note = NOTE.exec(got)
          assert.ok(note, `a cut line ends with its note: ${JSON.stringify(got)}`)
          const kept = got.slice(0, got.length - note[0].length)
          assert.ok(line.startsWith(kept), 'the kept text is the start of the line')
          assert.ok(Buffer.byteLength(kept) <= maxBytes)
          assert.equal(Buffer.byteLength(kept) + Number(note[1]!.replace(/,/g, '')), bytes, 'kept + cut = the whole line')
        })
      }),
      { numRuns: 300 },
    )
  })

  it('utf8Boundary never splits a character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 50 }), fc.nat(), (s, n) => {
        const bytes = Buffer.from(s)
        const end = utf8Boundary(bytes.subarray(0, n % (bytes.length + 1)))
        assert.ok(s.startsWith(bytes.subarray(0, end).toString('utf8')))
      }),
    )
  })

  it('reads a 64 MiB line from a stream keeping only MAX_LINE_BYTES of it', async () => {
    const stream = new PassThrough()
    const lines: string[] = []
    const done = readLines(stream, (l) => lines.push(l))
    const chunk = Buffer.alloc(1024 * 1024, 'x')
    for (let i = 0; i < 64; i++) stream.write(chunk)
    stream.end('\nlast line without a newline')
    await done
    assert.equal(lines.length, 2)
    assert.equal(lines[0], `${'x'.repeat(MAX_LINE_BYTES)}… [${(64 * 1024 * 1024 - MAX_LINE_BYTES).toLocaleString('en-US')} more bytes cut]`)
    assert.equal(lines[1], 'last line without a newline')
  })
})

describe('RunOutput', () => {
  it('once closed, output the server keeps failing gets one more try and is dropped, saying so, instead of retried for minutes', async () => {
    // A server that answers every report with 503 (down behind its proxy).
    let requests = 0
    const server = http.createServer((req, res) => {
      req.resume()
      requests++
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"down for the test"}}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const messages: string[] = []
      const client = new RotaClient(`http://127.0.0.1:${(server.address() as { port: number }).port}`).forRun('token')
      const output = new RunOutput(client, 'run-1', { onDeliveryError: (m) => messages.push(m) })
      output.line({ stream: 'stdout', line: 'the last words', time: new Date() })
      await output.close(500)
      const deadline = Date.now() + 15_000
      while (!messages.some((m) => m.startsWith('dropped 1 log line (seq 0): the run has ended')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      assert.ok(messages.some((m) => m.startsWith('dropped 1 log line (seq 0): the run has ended and the server still took no output 1 s later (down for the test)')), messages.join('\n'))
      const sent = requests
      assert.ok(sent >= 2, `retried while open, tried again after close (${sent} requests)`)
      await new Promise((r) => setTimeout(r, 1500))
      assert.equal(requests, sent, 'nothing is sent after it gave up')
    } finally {
      server.close()
    }
  })
})
