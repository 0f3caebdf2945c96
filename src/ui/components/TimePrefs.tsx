/**
 * The display settings: which zone times are shown in, and absolute or relative times. The button
 * sits in the navigation and names the zone; the dialog offers the browser's zone, UTC, the zones
 * the flows' schedules run in, and any other zone by name.
 */
import { useState } from 'preact/hooks'
import { useApi } from '../hooks.ts'
import { browserZone, isZone, setDisplayZone, setTimeMode, useTimePrefs, zoneChoices, zoneLabel, type TimeMode } from '../time.ts'
import type { Flow } from '../types.ts'
import { Modal } from './dialogs.tsx'

export function TimePrefsButton() {
  const { zone } = useTimePrefs()
  const [open, setOpen] = useState(false)
  return (
    <>
      <button type="button" class="prefs-btn" onClick={() => setOpen(true)} data-testid="time-prefs" title={`Times are shown in ${zone}; change the zone or the format`}>
        <svg width="13" height="13" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
          <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.6" />
          <path d="M8 4.2V8l2.6 1.6" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" />
        </svg>
        <span class="prefs-text">{zoneLabel()}</span>
        <span class="visually-hidden"> time settings</span>
      </button>
      {open ? <TimePrefsDialog onClose={() => setOpen(false)} /> : null}
    </>
  )
}

/** Every zone the browser knows, for the "other zone" field's suggestions. */
function allZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] }
  try {
    return intl.supportedValuesOf?.('timeZone') ?? []
  } catch {
    return []
  }
}

export function TimePrefsDialog({ onClose }: { onClose: () => void }) {
  const { zone, mode } = useTimePrefs()
  const flows = useApi<{ items: Flow[] }>('/flows')
  const flowZones = (flows.data?.items ?? []).flatMap((f) => (f.schedule && 'cron' in f.schedule ? [f.schedule.timezone] : []))
  const choices = zoneChoices(flowZones)
  if (!choices.includes(zone)) choices.push(zone)
  const [other, setOther] = useState('')
  const [error, setError] = useState<string | null>(null)
  const describe = (z: string) =>
    `${z} (${zoneLabel(Date.now(), z)})${z === browserZone() ? ' — this browser' : flowZones.includes(z) ? ' — a flow schedule' : ''}`

  const useOther = (e: Event) => {
    e.preventDefault()
    const name = other.trim()
    if (!isZone(name)) {
      setError(`"${name}" is not a time zone this browser knows; use a name like America/Sao_Paulo or UTC`)
      return
    }
    setError(null)
    setDisplayZone(name)
    setOther('')
  }

  return (
    <Modal title="Time display" onClose={onClose}>
      <div class="form" data-testid="time-prefs-dialog">
        <label>
          Show times in
          <select name="zone" value={zone} onChange={(e) => setDisplayZone(e.currentTarget.value === browserZone() ? null : e.currentTarget.value)}>
            {choices.map((z) => (
              <option key={z} value={z}>
                {describe(z)}
              </option>
            ))}
          </select>
          <span class="hint">Log lines, charts and run times all use this zone. Kept in this browser.</span>
        </label>
        <form class="field" onSubmit={useOther}>
          <label>
            Another zone
            <input type="text" name="otherZone" list="rota-zones" placeholder="e.g. Europe/Lisbon" value={other} onInput={(e) => setOther(e.currentTarget.value)} />
          </label>
          <datalist id="rota-zones">
            {allZones().map((z) => (
              <option key={z} value={z} />
            ))}
          </datalist>
          {error ? (
            <small class="form-error" role="alert">
              {error}
            </small>
          ) : null}
          <div class="form-actions">
            <button type="submit" class="btn small" disabled={!other.trim()}>
              Use this zone
            </button>
          </div>
        </form>
        <fieldset class="choices">
          <legend>Times</legend>
          {(['absolute', 'relative'] as TimeMode[]).map((m) => (
            <label key={m} class="check">
              <input type="radio" name="timeMode" value={m} checked={mode === m} onChange={() => setTimeMode(m)} />
              {m === 'absolute' ? 'Absolute (14:03:05 GMT-3)' : 'Relative (5 min ago)'}
            </label>
          ))}
        </fieldset>
        <p class="hint">Tip: tap any time to switch between absolute and relative.</p>
        <div class="form-actions">
          <button type="button" class="btn primary" onClick={onClose}>
            Done
          </button>
        </div>
      </div>
    </Modal>
  )
}
