/**
 * Does a text give a secret away? Checked independently of src/core/redact.ts (a test of redaction
 * must not trust redaction's own list of forms): the text is decoded every way a program may have
 * encoded the secret — backslash escapes (JSON, once and twice), percent-encoding (with `+` for
 * spaces), and base64 / base64url at every alignment — and each decoding is searched for it.
 */

/** Where `secret` shows in `text` (a decoded form of it), or undefined when it does not. */
export function leak(text: string, secret: string): string | undefined {
  const decodings: [string, string][] = [['raw', text]]
  let unescaped = text
  for (let level = 1; level <= 2; level++) {
    unescaped = unescapeBackslashes(unescaped)
    decodings.push([`backslash-unescaped x${level}`, unescaped])
  }
  decodings.push(['url-decoded', percentDecode(text.replace(/\+/g, ' '))])
  decodings.push(['url-decoded (+ kept)', percentDecode(text)])
  for (const [how, decoded] of decodings) {
    const at = decoded.indexOf(secret)
    if (at !== -1) return `${how}: …${decoded.slice(Math.max(0, at - 40), at + secret.length + 40)}…`
  }
  const wanted = Buffer.from(secret, 'utf8')
  for (const token of text.match(/[A-Za-z0-9+/_-]{6,}/g) ?? []) {
    for (let skip = 0; skip < 4; skip++) {
      const part = token.slice(skip).replace(/-/g, '+').replace(/_/g, '/')
      const bytes = Buffer.from(part.slice(0, part.length - (part.length % 4)), 'base64')
      if (bytes.includes(wanted)) return `base64 (skipping ${skip}): ${token.slice(0, 120)}`
    }
  }
  return undefined
}

function unescapeBackslashes(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\(.)/g, (_m, hex: string | undefined, ch: string | undefined) => {
    if (hex) return String.fromCharCode(parseInt(hex, 16))
    return ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' } as Record<string, string>)[ch as string] ?? (ch as string)
  })
}

function percentDecode(text: string): string {
  // Decodes each run of %XX as UTF-8, leaving runs that are not valid UTF-8 as they are.
  return text.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run)
    } catch {
      return run
    }
  })
}

/** A secret that every encoding changes: a space, a slash, a plus, quotes, a backslash, an ampersand, non-ASCII. */
export function awkwardSecret(): string {
  return `Pa55 w/rd+"q"\\&é-${crypto.randomUUID().slice(0, 8)}`
}
