import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DbtSetupError, ensureDbtVenv } from '../../pipelines/brt/dbt.ts'
import { tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'

describe('dbt set-up', { skip: DB_FREE, timeout: 30_000 }, () => {
  test('a machine without python3 gets a clear message', async () => {
    const { home, cleanup } = await tempHome()
    try {
      await assert.rejects(ensureDbtVenv({ baseDir: home, python: 'python3-not-installed-here' }), (err: Error) =>
        err instanceof DbtSetupError && /needs Python 3/.test(err.message) && /apt-get install python3 python3-venv/.test(err.message))
    } finally {
      await cleanup()
    }
  })
})
