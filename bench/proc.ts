/**
 * Memory of a process tree, read from /proc (Linux). Benchmarks use it to weigh a server with
 * everything it started: PGlite lives inside the Node process, Prefect's server and worker spawn
 * children, so only the whole tree compares fairly.
 */
import fs from 'node:fs'
import path from 'node:path'

/** The Node flags of bin/rota.js's first line (`#!/usr/bin/env -S node FLAGS`): a benchmark starts Rota as the `rota` command does. */
export function rotaNodeFlags(): string[] {
  const first = fs.readFileSync(path.join(import.meta.dirname, '..', 'bin', 'rota.js'), 'utf8').split('\n')[0] ?? ''
  return first.replace(/^#!\/usr\/bin\/env (-S )?node/, '').trim().split(/\s+/).filter(Boolean)
}

/** The pid and every descendant of it that is alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited while we looked
    }
    // The command name is in parentheses and may hold spaces: the fields after the last ')' are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    const list = children.get(ppid) ?? []
    list.push(Number(entry))
    children.set(ppid, list)
  }
  const out: number[] = []
  const stack = [root]
  while (stack.length > 0) {
    const pid = stack.pop() as number
    if (!fs.existsSync(`/proc/${pid}`)) continue
    out.push(pid)
    stack.push(...(children.get(pid) ?? []))
  }
  return out
}

function statusKb(pid: number, field: string): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  } catch {
    return 0
  }
}

function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0)
  } catch {
    return 0
  }
}

export interface TreeMemory {
  /** Sum of VmRSS over the tree, MB (what `ps` and most published figures add up). */
  rssMb: number
  /** Sum of PSS, MB: shared pages (the node binary, libraries) counted once across the tree. */
  pssMb: number
  processes: number
}

export function treeMemory(root: number): TreeMemory {
  const pids = processTree(root)
  let rss = 0
  let pss = 0
  for (const pid of pids) {
    rss += statusKb(pid, 'VmRSS')
    pss += pssKb(pid)
  }
  return { rssMb: rss / 1024, pssMb: pss / 1024, processes: pids.length }
}

/**
 * Where one process's resident memory is, by kind of mapping. For a Node process: V8 heap pages
 * (256 KiB anonymous chunks, every isolate's, so tsx's loader thread too), WebAssembly memories
 * (one anonymous reservation of 128 MiB or more, resident only where touched), the malloc heap,
 * the node binary and shared libraries, and the rest.
 */
export function rssBreakdown(pid: number): Record<string, number> {
  const out: Record<string, number> = {}
  let kind = ''
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8')
  } catch {
    return out
  }
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (head) {
      const sizeKb = (parseInt(head[2] as string, 16) - parseInt(head[1] as string, 16)) / 1024
      const name = head[4] ?? ''
      if (name === '[heap]') kind = 'malloc heap'
      else if (name.startsWith('/')) kind = name.endsWith('/node') ? 'node binary' : 'files and libraries'
      else if (name !== '') kind = 'other'
      else if (sizeKb === 256) kind = 'V8 heap pages'
      else if (sizeKb >= 128 * 1024 && sizeKb < 1024 * 1024) kind = 'WebAssembly memory'
      else if (sizeKb >= 16 * 1024 && sizeKb <= 64 * 1024) kind = 'malloc thread arenas'
      else kind = 'other anonymous'
      continue
    }
    const rss = /^Rss:\s+(\d+)/.exec(line)
    if (rss) out[kind] = (out[kind] ?? 0) + Number(rss[1]) / 1024
  }
  return out
}
