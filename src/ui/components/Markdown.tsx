/**
 * Markdown artifacts, rendered as Preact elements: headings, paragraphs, lists, fenced code, and
 * inline code, bold, italics and links. Never HTML: an artifact's text can come from anywhere (an
 * API a flow called), so nothing in it reaches innerHTML, and links are http(s) or mailto only.
 */
import type { ComponentChildren } from 'preact'

type Block =
  | { type: 'heading'; level: number; text: string }
  | { type: 'paragraph'; text: string }
  | { type: 'list'; ordered: boolean; items: string[] }
  | { type: 'code'; text: string }

export function parseBlocks(markdown: string): Block[] {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n')
  const blocks: Block[] = []
  let paragraph: string[] = []
  let list: { ordered: boolean; items: string[] } | undefined
  const flush = () => {
    if (paragraph.length) blocks.push({ type: 'paragraph', text: paragraph.join(' ') })
    if (list) blocks.push({ type: 'list', ...list })
    paragraph = []
    list = undefined
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    if (/^\s*```/.test(line)) {
      flush()
      const code: string[] = []
      for (i++; i < lines.length && !/^\s*```/.test(lines[i] as string); i++) code.push(lines[i] as string)
      blocks.push({ type: 'code', text: code.join('\n') })
      continue
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line)
    if (heading) {
      flush()
      blocks.push({ type: 'heading', level: (heading[1] as string).length, text: (heading[2] as string).trim() })
      continue
    }
    const item = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/.exec(line)
    if (item) {
      const ordered = item[2] !== undefined
      if (paragraph.length || (list && list.ordered !== ordered)) flush()
      list ??= { ordered, items: [] }
      list.items.push(item[3] as string)
      continue
    }
    if (line.trim() === '') {
      flush()
      continue
    }
    if (list) flush()
    paragraph.push(line.trim())
  }
  flush()
  return blocks
}

const SAFE_URL = /^(https?:|mailto:)/i

/** Inline markup: `code`, **bold**, *italic* or _italic_, [text](url). Everything else is text. */
export function inline(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = []
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|_([^_]+)_|\[([^\]]+)\]\(([^)\s]+)\)/g
  let last = 0
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    if (m.index > last) out.push(text.slice(last, m.index))
    const [, code, bold, em1, em2, linkText, url] = m
    if (code !== undefined) out.push(<code>{code}</code>)
    else if (bold !== undefined) out.push(<strong>{inline(bold)}</strong>)
    else if (em1 !== undefined || em2 !== undefined) out.push(<em>{em1 ?? em2}</em>)
    else if (linkText !== undefined && url !== undefined) {
      out.push(
        SAFE_URL.test(url) ? (
          <a href={url} target="_blank" rel="noopener noreferrer">
            {linkText}
          </a>
        ) : (
          `${linkText} (${url})`
        ),
      )
    }
    last = m.index + m[0].length
  }
  if (last < text.length) out.push(text.slice(last))
  return out
}

export function Markdown({ text }: { text: string }) {
  return (
    <div class="markdown" data-testid="artifact-markdown">
      {parseBlocks(text).map((b, i) => {
        switch (b.type) {
          case 'heading': {
            const H = `h${Math.min(6, b.level + 2)}` as 'h3'
            return <H key={i}>{inline(b.text)}</H>
          }
          case 'paragraph':
            return <p key={i}>{inline(b.text)}</p>
          case 'code':
            return (
              <pre key={i} class="json">
                <code>{b.text}</code>
              </pre>
            )
          case 'list': {
            const items = b.items.map((t, j) => <li key={j}>{inline(t)}</li>)
            return b.ordered ? <ol key={i}>{items}</ol> : <ul key={i}>{items}</ul>
          }
        }
      })}
    </div>
  )
}
