/**
 * The PGlite folder lock and private files (PGlite only: PostgreSQL locks its own data).
 * - Stale locks are taken over whatever left them: a dead process, a pid now used by another
 *   process (PID reuse), this very pid in a previous life (PID 1 in a container), the old format.
 * - Locks that cannot be judged (garbage, empty, another host) say which file to delete.
 * - Two processes racing for one folder after a crash: exactly one wins, 50 times over, and two
 *   real `rota server start` processes racing on one ROTA_HOME: exactly one serves.
 * - ROTA_HOME, the database folder and files are private (0700/0600), and the template cache is
 *   used only from a folder that is provably this user's.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { DB_KIND, ROOT, testConfig, freshDatabase } from '../helpers/rota.ts'
import { acquireDirLock, DatabaseLockedError, processStart } from '../../src/server/db/lock.ts'
import { privateCacheDir, readPrivateFile } from '../../src/private-files.ts'
import { startServer } from '../../src/server/index.ts'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-lock-'))
after(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** The pid of a process that has exited (so no live process has it, for now). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  return Number(r.stdout)
}

function writeLock(file: string, owner: Record<string, unknown> | string): void {
  fs.writeFileSync(file, typeof owner === 'string' ? owner : JSON.stringify({ token: randomUUID(), host: os.hostname(), at: 'then', ...owner }))
}

function old(file: string): void {
  const t = new Date(Date.now() - 60_000)
  fs.utimesSync(file, t, t)
}

const skip = DB_KIND === 'pglite' ? false : 'PGlite only (PostgreSQL locks its own data)'

describe('PGlite folder lock', { skip }, () => {
  it('takes over locks left by a dead process, a reused pid, this pid in a previous life, and the old format', async () => {
    const cases: [string, Record<string, unknown> | string][] = [
      ['dead process', { pid: deadPid(), started: 'x' }],
      ['pid reused by another process', { pid: process.ppid, started: 'not-when-it-started' }],
      ['this pid, in a previous life (PID 1 in a container)', { pid: process.pid, started: processStart(process.pid) }],
      ['old format, dead process', `${deadPid()}@${os.hostname()}`],
    ]
    for (const [what, owner] of cases) {
      const file = path.join(tmp, `${randomUUID()}.lock`)
      writeLock(file, owner)
      const release = await acquireDirLock(file)
      const now = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number }
      assert.equal(now.pid, process.pid, what)
      assert.equal(fs.statSync(file).mode & 0o777, 0o600)
      release()
      assert.ok(!fs.existsSync(file), `${what}: released`)
    }
  })

  it('refuses a live owner, and says what to delete when the lock cannot be judged', async () => {
    const file = path.join(tmp, 'live.lock')
    const release = await acquireDirLock(file)
    await assert.rejects(acquireDirLock(file), (e: Error) => e instanceof DatabaseLockedError && /in use by process \d+/.test(e.message))
    release()
    for (const [what, content, expected] of [
      ['empty', '', /cannot be read.*rm /],
      ['garbage', 'not a lock', /cannot be read.*rm /],
      ['another host', JSON.stringify({ token: 't', pid: 1, host: 'elsewhere.example', started: 'x', at: 'then' }), /on host elsewhere\.example.*delete/],
    ] as const) {
      const f = path.join(tmp, `${randomUUID()}.lock`)
      fs.writeFileSync(f, content)
      old(f)
      const started = Date.now()
      await assert.rejects(acquireDirLock(f), (e: Error) => e instanceof DatabaseLockedError && expected.test(e.message), what)
      assert.ok(Date.now() - started < 6000, `${what}: no endless wait`)
    }
  })

  it('two processes racing for one folder after a crash: exactly one wins, 50 times', { timeout: 120_000 }, async () => {
    const racers: ChildProcess[] = []
    const pids: number[] = []
    const inbox = new Map<ChildProcess, ((m: Record<string, unknown>) => void)[]>()
    const next = (c: ChildProcess) => new Promise<Record<string, unknown>>((resolve) => inbox.get(c)?.push(resolve))
    for (let i = 0; i < 2; i++) {
      const c = fork(path.join(ROOT, 'test/fixtures/lock-racer.ts'), { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      inbox.set(c, [])
      c.on('message', (m: Record<string, unknown>) => inbox.get(c)?.shift()?.(m))
      racers.push(c)
      pids.push((await next(c)).ready as number)
    }
    const [a, b] = racers as [ChildProcess, ChildProcess]
    try {
      const stale = [
        () => undefined, // no lock at all: both start fresh
        (f: string) => writeLock(f, { pid: deadPid(), started: 'x' }), // the server before them crashed
        (f: string) => writeLock(f, { pid: pids[0], started: 'an-earlier-life' }), // racer A's pid, from a previous process
        (f: string) => writeLock(f, { pid: process.pid, started: 'not-when-it-started' }), // a live pid reused
        (f: string) => writeLock(f, `${deadPid()}@${os.hostname()}`), // the old format
      ]
      const wins = { a: 0, b: 0 }
      for (let trial = 0; trial < 50; trial++) {
        const file = path.join(tmp, `race-${trial}.lock`)
        stale[trial % stale.length]?.(file)
        const at = Date.now() + 40
        const [ra, rb] = await Promise.all([next(a), next(b), a.send({ go: file, at }), b.send({ go: file, at })])
        assert.equal(Number(ra.won) + Number(rb.won), 1, `trial ${trial}: exactly one winner (a: ${JSON.stringify(ra)}, b: ${JSON.stringify(rb)})`)
        const loser = ra.won ? rb : ra
        assert.match(String(loser.error), /DatabaseLockedError: .*in use by process/, `trial ${trial}`)
        if (ra.won) wins.a++
        else wins.b++
        const winner = ra.won ? a : b
        await Promise.all([next(winner), winner.send({ release: true })])
        assert.ok(!fs.existsSync(file), `trial ${trial}: released`)
        assert.ok(!fs.existsSync(`${file}.takeover`), `trial ${trial}: no takeover lock left`)
      }
      assert.ok(wins.a > 0 && wins.b > 0, `both racers won some races (${JSON.stringify(wins)}): they did race`)
    } finally {
      for (const c of racers) c.kill('SIGKILL')
    }
  })

  it('two real servers started together on one ROTA_HOME after a crash: exactly one serves', { timeout: 180_000 }, async () => {
    for (let trial = 0; trial < 3; trial++) {
      const home = fs.mkdtempSync(path.join(tmp, 'home-'))
      writeLock(path.join(home, 'db.lock'), { pid: deadPid(), started: 'x' })
      const start = () => {
        const child = spawn(process.execPath, [path.join(ROOT, 'bin/rota.js'), 'server', 'start', '--port', '0'], {
          cwd: ROOT,
          env: { ...process.env, ROTA_HOME: home, DATABASE_URL: '', ROTA_API_KEY: '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let out = ''
        child.stdout.on('data', (d: Buffer) => (out += d.toString()))
        child.stderr.on('data', (d: Buffer) => (out += d.toString()))
        const outcome = new Promise<'serving' | 'refused'>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no outcome within 60 s:\n${out}`)), 60_000)
          child.stdout.on('data', () => {
            if (/listening on/.test(out)) {
              clearTimeout(timer)
              resolve('serving')
            }
          })
          child.once('exit', (code) => {
            clearTimeout(timer)
            if (/listening on/.test(out)) return
            if (code === 1 && /in use by process/.test(out)) resolve('refused')
            else reject(new Error(`exited ${code}:\n${out}`))
          })
        })
        return { child, outcome }
      }
      const servers = [start(), start()]
      try {
        const outcomes = await Promise.all(servers.map((s) => s.outcome))
        assert.deepEqual(outcomes.sort(), ['refused', 'serving'], `trial ${trial}`)
      } finally {
        for (const s of servers) s.child.kill('SIGTERM')
        await Promise.all(servers.map((s) => (s.child.exitCode === null ? new Promise((r) => s.child.once('exit', r)) : undefined)))
      }
    }
  })
})

describe('private files', { skip }, () => {
  it('ROTA_HOME, the database folder and its files are 0700/0600', async () => {
    const db = await freshDatabase()
    const home = path.join(db.home, 'new-home')
    const server = await startServer(testConfig(db, { home }), { log: () => undefined })
    await server.close()
    try {
      assert.equal(fs.statSync(home).mode & 0o777, 0o700)
      const open: string[] = []
      const walk = (p: string) => {
        const st = fs.lstatSync(p)
        const want = st.isDirectory() ? 0o700 : 0o600
        if ((st.mode & 0o777) !== want) open.push(`${p} ${(st.mode & 0o777).toString(8)}`)
        if (st.isDirectory()) for (const n of fs.readdirSync(p)) walk(path.join(p, n))
      }
      walk(path.join(home, 'db'))
      assert.deepEqual(open.slice(0, 5), [], `${open.length} database files are open to other users`)
    } finally {
      await db.drop()
    }
  })

  it('uses a template cache only from a folder that is provably this user\'s', () => {
    const base = fs.mkdtempSync(path.join(tmp, 'cache-'))
    const mine = privateCacheDir(base)
    assert.ok(mine.dir, JSON.stringify(mine))
    assert.equal(fs.statSync(mine.dir).mode & 0o777, 0o700)
    // another user planted the folder first (we are not that user) or left it open
    fs.chmodSync(mine.dir, 0o777)
    assert.match(String((privateCacheDir(base) as { reason?: string }).reason), /open to other users/)
    fs.chmodSync(mine.dir, 0o700)
    const planted = path.join(mine.dir, 'pglite-template-x.tar.gz')
    fs.writeFileSync(planted, 'planted', { mode: 0o666 })
    fs.chmodSync(planted, 0o666)
    assert.equal(readPrivateFile(planted), undefined, 'a file others could write is not trusted')
    if (process.getuid?.() === 0) {
      fs.chownSync(mine.dir, 65534, 65534)
      assert.match(String((privateCacheDir(base) as { reason?: string }).reason), /belongs to user 65534/)
    }
    // a symbolic link planted where the folder should be
    const base2 = fs.mkdtempSync(path.join(tmp, 'cache-'))
    fs.symlinkSync(mine.dir, path.join(base2, path.basename(mine.dir)))
    assert.match(String((privateCacheDir(base2) as { reason?: string }).reason), /is not a folder/)
  })
})
