/**
 * The lake: where files land. A local folder (`file:///abs/path`, the default `ROTA_HOME/lake`) or
 * Google Cloud Storage (`gs://bucket/prefix`, through the official @google-cloud/storage client).
 *
 * Keys are relative, `/`-separated paths ("bronze/brt_gps/dt=2024-05-01/x.csv"). Every write is
 * atomic (readers see the old object or the new one, never half of one): the local lake writes a
 * temporary file and renames it; GCS object writes are atomic by nature.
 */
import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import lockfile from 'proper-lockfile'
import type { Bucket } from '@google-cloud/storage'

export class LakeError extends Error {
  override name = 'LakeError'
}

export interface LakeLockOptions {
  /** A lock not refreshed for this long belongs to a dead process and is taken over (default 20 s). */
  readonly staleMs?: number
  /** How long to wait for the lock before failing (default 60 s). */
  readonly waitMs?: number
}

export interface Lake {
  /** The lake's URL, as configured. */
  readonly url: string
  /** Writes atomically. With `ifAbsent`, writes only when the key does not exist and says whether it wrote. */
  put(key: string, data: Buffer | string, options?: { ifAbsent?: boolean; contentType?: string }): Promise<boolean>
  /** The object's bytes, or undefined when it does not exist. */
  get(key: string): Promise<Buffer | undefined>
  exists(key: string): Promise<boolean>
  /** Keys under a prefix (recursive), sorted. */
  list(prefix: string): Promise<string[]>
  /** Deletes; a missing key is not an error (deletes are repeated by crash recovery). */
  delete(key: string): Promise<void>
  /** Server-side copy (GCS) or hard copy (local). */
  copy(from: string, to: string): Promise<void>
  /** Address of a key for people and for tools: `file:///…` or `gs://…`. */
  address(key: string): string
  /** Absolute path for a key of a local lake; undefined on GCS. */
  localPath(key: string): string | undefined
  /** Mutual exclusion between processes sharing this lake; returns the release function. */
  lock(name: string, options?: LakeLockOptions): Promise<() => Promise<void>>
}

export interface LakeOptions {
  /** GCS API endpoint, e.g. an emulator at http://127.0.0.1:9023 (from STORAGE_EMULATOR_HOST). */
  readonly gcsApiEndpoint?: string | undefined
  readonly gcpProject?: string | undefined
}

export async function openLake(lakeUrl: string, options: LakeOptions = {}): Promise<Lake> {
  if (lakeUrl.startsWith('file://')) return new LocalLake(fileURLToPath(lakeUrl))
  const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(lakeUrl)
  if (m) {
    const { Storage } = await import('@google-cloud/storage')
    const storage = new Storage({
      ...(options.gcsApiEndpoint ? { apiEndpoint: options.gcsApiEndpoint } : {}),
      ...(options.gcpProject ? { projectId: options.gcpProject } : {}),
    })
    return new GcsLake(lakeUrl, storage.bucket(m[1]!), m[2]!.replace(/\/+$/, ''))
  }
  throw new LakeError(`LAKE_URL must be file:///absolute/path or gs://bucket[/prefix], got "${lakeUrl}"`)
}

function checkKey(key: string): string {
  if (key === '' || key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.')) {
    throw new LakeError(`invalid lake key "${key}"`)
  }
  return key
}

export class LocalLake implements Lake {
  readonly url: string
  constructor(readonly root: string) {
    this.url = `file://${root}`
  }

  localPath(key: string): string {
    return path.join(this.root, ...checkKey(key).split('/'))
  }

  address(key: string): string {
    return `file://${this.localPath(key)}`
  }

  async put(key: string, data: Buffer | string, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const target = this.localPath(key)
    await fs.mkdir(path.dirname(target), { recursive: true })
    const tmp = `${target}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`
    const handle = await fs.open(tmp, 'w')
    try {
      await handle.writeFile(data)
      // fsync so a machine crash after the rename cannot leave an empty file under the final name.
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      if (options.ifAbsent) {
        // link() fails with EEXIST instead of replacing: an atomic create-if-absent with full content.
        try {
          await fs.link(tmp, target)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
          throw err
        }
        return true
      }
      await fs.rename(tmp, target)
      return true
    } finally {
      await fs.rm(tmp, { force: true })
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.localPath(key))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fs.access(this.localPath(key))
      return true
    } catch {
      return false
    }
  }

  async list(prefix: string): Promise<string[]> {
    const base = prefix.replace(/\/+$/, '')
    const dir = base === '' ? this.root : this.localPath(base)
    let entries: string[]
    try {
      entries = (await fs.readdir(dir, { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile() && !e.name.includes('.tmp-'))
        // Dirent.parentPath is Node >= 20.12; `path` is its older name (package.json allows 20.9).
        .map((e) => path.relative(this.root, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split(path.sep).join('/'))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    return entries.sort()
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.localPath(key), { force: true })
  }

  async copy(from: string, to: string): Promise<void> {
    const data = await this.get(from)
    if (data === undefined) throw new LakeError(`cannot copy ${this.address(from)}: it does not exist`)
    await this.put(to, data)
  }

  async lock(name: string, options: LakeLockOptions = {}): Promise<() => Promise<void>> {
    const target = this.localPath(`_locks/${name}`)
    await fs.mkdir(path.dirname(target), { recursive: true })
    const staleMs = Math.max(2000, options.staleMs ?? 20_000)
    const deadline = Date.now() + (options.waitMs ?? 60_000)
    for (;;) {
      try {
        // proper-lockfile: an atomic mkdir, refreshed while held, taken over when stale (crashed holder).
        const release = await lockfile.lock(target, { realpath: false, stale: staleMs, update: Math.floor(staleMs / 4) })
        return async () => {
          await release().catch(() => undefined)
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err
        if (Date.now() > deadline) throw new LakeError(`timed out waiting for lake lock "${name}" at ${target}.lock`)
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 150))
      }
    }
  }
}

export class GcsLake implements Lake {
  constructor(
    readonly url: string,
    private readonly bucket: Bucket,
    private readonly prefix: string,
  ) {}

  private name(key: string): string {
    checkKey(key)
    return this.prefix ? `${this.prefix}/${key}` : key
  }

  localPath(): undefined {
    return undefined
  }

  address(key: string): string {
    return `gs://${this.bucket.name}/${this.name(key)}`
  }

  async put(key: string, data: Buffer | string, options: { ifAbsent?: boolean; contentType?: string } = {}): Promise<boolean> {
    const body = typeof data === 'string' ? Buffer.from(data) : data
    try {
      await this.bucket.file(this.name(key)).save(body, {
        resumable: false,
        // Both hashes are checked by the client after the upload (and md5 by the server).
        validation: 'crc32c',
        metadata: {
          contentType: options.contentType ?? 'application/octet-stream',
          md5Hash: createHash('md5').update(body).digest('base64'),
        },
        ...(options.ifAbsent ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
      })
      return true
    } catch (err) {
      if (options.ifAbsent && gcsCode(err) === 412) return false
      throw new LakeError(`could not write ${this.address(key)}: ${(err as Error).message}`, { cause: err })
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const [data] = await this.bucket.file(this.name(key)).download({ validation: true })
      return data
    } catch (err) {
      if (gcsCode(err) === 404) return undefined
      throw new LakeError(`could not read ${this.address(key)}: ${(err as Error).message}`, { cause: err })
    }
  }

  async exists(key: string): Promise<boolean> {
    const [found] = await this.bucket.file(this.name(key)).exists()
    return found
  }

  async list(prefix: string): Promise<string[]> {
    const full = [this.prefix, prefix.replace(/\/+$/, '')].filter((p) => p !== '').join('/')
    const [files] = await this.bucket.getFiles({ prefix: full === '' ? '' : `${full}/`, autoPaginate: true })
    const strip = this.prefix ? this.prefix.length + 1 : 0
    return files.map((f) => f.name.slice(strip)).sort()
  }

  async delete(key: string): Promise<void> {
    try {
      await this.bucket.file(this.name(key)).delete()
    } catch (err) {
      if (gcsCode(err) !== 404) throw new LakeError(`could not delete ${this.address(key)}: ${(err as Error).message}`, { cause: err })
    }
  }

  async copy(from: string, to: string): Promise<void> {
    try {
      await this.bucket.file(this.name(from)).copy(this.bucket.file(this.name(to)))
    } catch (err) {
      throw new LakeError(`could not copy ${this.address(from)} to ${this.address(to)}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * A lock object created with `ifGenerationMatch: 0` (only one creator wins). It holds an expiry
   * that the holder pushes forward; a lock past its expiry (a crashed holder) is deleted with a
   * generation precondition, so two waiters cannot both take it over.
   */
  async lock(name: string, options: LakeLockOptions = {}): Promise<() => Promise<void>> {
    const staleMs = Math.max(2000, options.staleMs ?? 20_000)
    const deadline = Date.now() + (options.waitMs ?? 60_000)
    const file = this.bucket.file(this.name(`_locks/${name}.lock`))
    const owner = `${os.hostname()}:${process.pid}:${randomUUID()}`
    const body = (): string => JSON.stringify({ owner, expiresAt: Date.now() + staleMs })
    for (;;) {
      try {
        await file.save(body(), { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } })
        let generation = (await file.getMetadata())[0].generation
        const timer = setInterval(() => {
          file
            .save(body(), { resumable: false, preconditionOpts: { ifGenerationMatch: Number(generation) } })
            .then(async () => {
              generation = (await file.getMetadata())[0].generation
            })
            .catch(() => undefined)
        }, Math.floor(staleMs / 4))
        timer.unref()
        return async () => {
          clearInterval(timer)
          await file.delete({ ifGenerationMatch: Number(generation) }).catch(() => undefined)
        }
      } catch (err) {
        if (gcsCode(err) !== 412) throw new LakeError(`could not take lake lock "${name}": ${(err as Error).message}`, { cause: err })
      }
      try {
        const [meta] = await file.getMetadata()
        const [content] = await file.download()
        const { expiresAt } = JSON.parse(content.toString()) as { expiresAt: number }
        if (expiresAt < Date.now()) await file.delete({ ifGenerationMatch: Number(meta.generation) })
      } catch {
        // Gone or replaced meanwhile: try again.
      }
      if (Date.now() > deadline) throw new LakeError(`timed out waiting for lake lock "${name}" at ${this.address(`_locks/${name}.lock`)}`)
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 200))
    }
  }
}

function gcsCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code
  return typeof code === 'number' ? code : typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : undefined
}
