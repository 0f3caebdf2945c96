/**
 * The lock on an embedded (PGlite) database folder. PGlite does not lock its data directory: two
 * processes that open it both succeed and silently lose writes. So a server holds `db.lock`:
 *
 *   db.lock            JSON {token, pid, host, started, at}, mode 0600, present while a server owns the folder
 *   db.lock.takeover   the same, for the few milliseconds in which a server replaces a stale db.lock
 *
 * - Taking it is atomic: the content goes to a temporary file that is then hard-linked into place,
 *   which fails when a lock exists (O_EXCL where links are not supported), so a lock is never seen
 *   half written and two servers never both create it.
 * - An owner is judged by more than its pid, which the kernel reuses (PID 1 in every container
 *   start): the lock is stale when its process is gone, when the pid now belongs to a process that
 *   started at another time, or when it names this very process with a token this process never
 *   issued. A lock from another host cannot be judged from here.
 * - A stale lock is replaced under `db.lock.takeover`, and judged again under it: two servers that
 *   start together after a crash cannot both remove it and both win.
 * - Nothing waits for ever: a lock that cannot be read, or that belongs to another host, gets an
 *   error that says which file to delete once no server uses the folder.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'

export class DatabaseLockedError extends Error {
  override name = 'DatabaseLockedError'
}

interface LockOwner {
  token: string
  pid: number
  host: string
  /** When the owning process started (boot id and clock ticks on Linux); undefined when unknown. */
  started: string | undefined
  at: string
}

type Reading = { kind: 'owner'; owner: LockOwner } | { kind: 'missing' } | { kind: 'unreadable'; ageMs: number }

/** Tokens of the locks this process holds: a lock naming our pid with another token is a previous life's. */
const held = new Set<string>()

/** A lock file younger than this that cannot be read may still be being written (O_EXCL fallback). */
const WRITING_MS = 2000

export async function acquireDirLock(lockPath: string): Promise<() => void> {
  const me: LockOwner = { token: randomUUID(), pid: process.pid, host: os.hostname(), started: processStart(process.pid), at: new Date().toISOString() }
  const dir = path.dirname(lockPath)
  const deadline = Date.now() + 5000
  for (;;) {
    if (create(lockPath, me)) return release(lockPath, me.token)
    const reading = read(lockPath)
    if (reading.kind === 'owner') {
      const { owner } = reading
      const verdict = judge(owner)
      if (verdict === 'alive') {
        throw new DatabaseLockedError(
          `the embedded database in ${dir} is in use by process ${owner.pid} (since ${owner.at}). ` +
            'Stop that Rota server first, use another ROTA_HOME, or set DATABASE_URL to share a PostgreSQL server between processes.',
        )
      }
      if (verdict === 'elsewhere') {
        throw new DatabaseLockedError(
          `the embedded database in ${dir} is locked by process ${owner.pid} on host ${owner.host}, which cannot be checked from here. ` +
            `If no Rota server on ${owner.host} uses it any more, delete ${lockPath} and start again.`,
        )
      }
      if (await takeOver(lockPath, owner.token, me)) return release(lockPath, me.token)
    } else if (reading.kind === 'unreadable' && reading.ageMs > WRITING_MS) {
      throw new DatabaseLockedError(
        `the lock file ${lockPath} cannot be read (it is empty or was not written by Rota). ` + `If no Rota server uses ${dir}, delete it and start again: rm ${lockPath}`,
      )
    }
    if (Date.now() > deadline) throw new DatabaseLockedError(`could not take the lock ${lockPath} within 5 s: other processes keep taking it. Is another Rota server starting on ${dir}?`)
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 30))
  }
}

/** Replaces a stale lock (the one with `staleToken`) by ours, under the takeover lock; false: try again. */
async function takeOver(lockPath: string, staleToken: string, me: LockOwner): Promise<boolean> {
  const guard = `${lockPath}.takeover`
  const guardOwner = { ...me, token: randomUUID() }
  if (!create(guard, guardOwner)) {
    const reading = read(guard)
    if (reading.kind === 'owner' && judge(reading.owner) === 'stale') {
      throw new DatabaseLockedError(
        `a Rota server stopped while taking over the lock of ${path.dirname(lockPath)}. If no Rota server uses that folder, delete ${guard} and ${lockPath}, and start again.`,
      )
    }
    return false // another server is taking over right now: look again
  }
  try {
    const again = read(lockPath)
    if (again.kind === 'owner' && again.owner.token === staleToken) fs.rmSync(lockPath, { force: true })
    return create(lockPath, me)
  } finally {
    release(guard, guardOwner.token)()
  }
}

/** Creates the lock file holding `owner`, atomically; false when it exists. */
function create(lockPath: string, owner: LockOwner): boolean {
  const body = JSON.stringify(owner)
  const tmp = `${lockPath}.${owner.token}.tmp`
  fs.writeFileSync(tmp, body, { mode: 0o600 })
  try {
    fs.linkSync(tmp, lockPath)
    held.add(owner.token)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err
    // a file system without hard links: O_EXCL, with a moment in which the file is empty (see WRITING_MS)
    let fd: number
    try {
      fd = fs.openSync(lockPath, 'wx', 0o600)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw e
    }
    try {
      fs.writeSync(fd, body)
    } finally {
      fs.closeSync(fd)
    }
    held.add(owner.token)
    return true
  } finally {
    fs.rmSync(tmp, { force: true })
  }
}

function release(lockPath: string, token: string): () => void {
  let released = false
  return () => {
    if (released) return
    released = true
    const reading = read(lockPath)
    if (reading.kind === 'owner' && reading.owner.token === token) fs.rmSync(lockPath, { force: true })
    held.delete(token)
  }
}

function read(lockPath: string): Reading {
  let text: string
  let mtimeMs: number
  try {
    text = fs.readFileSync(lockPath, 'utf8')
    mtimeMs = fs.statSync(lockPath).mtimeMs
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' }
    throw err
  }
  const owner = parseOwner(text)
  return owner ? { kind: 'owner', owner } : { kind: 'unreadable', ageMs: Date.now() - mtimeMs }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>
    if (typeof o.token === 'string' && Number.isInteger(o.pid) && typeof o.host === 'string') {
      return { token: o.token, pid: o.pid as number, host: o.host, started: typeof o.started === 'string' ? o.started : undefined, at: String(o.at ?? 'unknown') }
    }
  } catch {
    // Rota before 0.2 wrote "pid@host"
    const [pid, host] = text.split('@')
    if (pid && host && /^\d+$/.test(pid)) return { token: `legacy:${text}`, pid: Number(pid), host: host.trim(), started: undefined, at: 'unknown' }
  }
  return undefined
}

function judge(owner: LockOwner): 'alive' | 'stale' | 'elsewhere' {
  if (owner.host !== os.hostname()) return 'elsewhere'
  if (owner.pid === process.pid) return held.has(owner.token) ? 'alive' : 'stale'
  if (!processAlive(owner.pid)) return 'stale'
  if (owner.started !== undefined) {
    const now = processStart(owner.pid)
    if (now !== undefined && now !== owner.started) return 'stale' // the pid was reused
  }
  return 'alive'
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

let bootId: string | undefined
/** A stable identity of when a process started: boot id and start ticks on Linux, `ps` elsewhere. */
export function processStart(pid: number): string | undefined {
  try {
    if (process.platform === 'linux') {
      bootId ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      // the command name is in parentheses and may hold spaces: fields are counted after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ticks = fields[19] // field 22 of proc(5), starttime
      return ticks ? `${bootId}:${ticks}` : undefined
    }
    const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return out || undefined
  } catch {
    return undefined
  }
}
