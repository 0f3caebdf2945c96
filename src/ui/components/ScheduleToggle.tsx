import { useState } from 'preact/hooks'
import { api } from '../api.ts'
import type { Flow } from '../types.ts'

/** The schedule on/off switch: optimistic, reverted with a message when the server refuses. */
export function ScheduleToggle({ flow, onChange }: { flow: Flow; onChange: (f: Flow) => void }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  if (!flow.schedule) return <span class="muted nowrap">no schedule</span>
  const toggle = async () => {
    const active = !flow.scheduleActive
    setBusy(true)
    setError(null)
    onChange({ ...flow, scheduleActive: active })
    try {
      onChange(await api<Flow>(`/flows/${encodeURIComponent(flow.name)}/schedule`, { method: 'POST', body: { active } }))
    } catch (err) {
      onChange({ ...flow, scheduleActive: !active })
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <span class="toggle-wrap">
      <button
        type="button"
        role="switch"
        aria-checked={flow.scheduleActive}
        aria-label={`Schedule of ${flow.name}`}
        class={flow.scheduleActive ? 'switch on' : 'switch'}
        disabled={busy}
        onClick={toggle}
        data-testid="schedule-toggle"
      >
        <span class="knob" />
      </button>
      <span class="switch-label">{flow.scheduleActive ? 'On' : 'Off'}</span>
      {error ? (
        <span class="form-error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  )
}
