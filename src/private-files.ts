/**
 * Files of the embedded database, kept private: the database folder is 0700 and its files 0600
 * (PGlite writes them 0666 less the umask, readable by every local user), and the migrated PGlite
 * template that new folders start from is cached only in a folder that is this user's alone —
 * checked before every use, because a predictable path in the shared temp folder can be planted
 * by another local user, and a planted template is a database this server would trust.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** Creates `dir` (and missing parents) as 0700; an existing folder is left as it is. */
export function makePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
}

/** Makes every folder under `root` (itself included) 0700 and every file 0600. */
export function restrictTree(root: string): void {
  const walk = (p: string) => {
    const st = fs.lstatSync(p)
    if (st.isSymbolicLink()) return
    if (st.isDirectory()) {
      if ((st.mode & 0o777) !== 0o700) fs.chmodSync(p, 0o700)
      for (const name of fs.readdirSync(p)) walk(path.join(p, name))
    } else if ((st.mode & 0o777) !== 0o600) fs.chmodSync(p, 0o600)
  }
  walk(root)
}

/**
 * A per-user cache folder in the temp folder (`rota-<uid>`), or undefined with the reason when it
 * is not provably private: not a real folder, owned by someone else, or open to group or others.
 */
export function privateCacheDir(base = os.tmpdir()): { dir: string } | { dir: undefined; reason: string } {
  const uid = process.getuid?.()
  const dir = path.join(base, `rota-${uid ?? os.userInfo().username}`)
  try {
    fs.mkdirSync(dir, { mode: 0o700 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return { dir: undefined, reason: `cannot create ${dir}: ${(err as Error).message}` }
  }
  const why = notPrivate(dir, 'folder')
  return why ? { dir: undefined, reason: why } : { dir }
}

/** Reads a file that only this user can have written; undefined when absent or not private. */
export function readPrivateFile(file: string): Buffer | undefined {
  if (!fs.existsSync(file) || notPrivate(file, 'file')) return undefined
  return fs.readFileSync(file)
}

/** Writes a file as 0600 through a temporary name, so readers never see half of it. */
export function writePrivateFile(file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, data, { mode: 0o600 })
  fs.renameSync(tmp, file)
}

function notPrivate(p: string, kind: 'folder' | 'file'): string | undefined {
  const st = fs.lstatSync(p)
  if (st.isSymbolicLink() || (kind === 'folder' ? !st.isDirectory() : !st.isFile())) return `${p} is not a ${kind}`
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid) return `${p} belongs to user ${st.uid}, not to this user (${uid})`
  const open = kind === 'folder' ? st.mode & 0o077 : st.mode & 0o022
  if (open) return `${p} is open to other users (mode ${(st.mode & 0o777).toString(8)})`
  return undefined
}
