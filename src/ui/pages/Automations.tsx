/**
 * Automations: the list (enable, disable, delete), a form to make one, and each one's firing
 * history (#/automations/<id>). Header values never come back from the server: the list shows
 * what answers show ("********", a webhook URL's host and first path segment).
 */
import { useState } from 'preact/hooks'
import { api } from '../api.ts'
import { Card, Empty, ErrorBox, Loading, TimeAgo } from '../components/common.tsx'
import { FormEnd, Modal } from '../components/dialogs.tsx'
import { useApi, useInterval } from '../hooks.ts'
import { href, navigate, type Route } from '../router.ts'
import { describeAction, describeTrigger } from '../../core/automations.ts'
import { formatDurationSeconds, parseDurationSeconds } from '../../core/duration.ts'
import { STATES } from '../types.ts'
import type { Automation, AutomationAction, AutomationInput, AutomationTrigger, Firing, Flow, RunState } from '../types.ts'

const FIRING_CLASS: Record<string, string> = { delivered: 'ok', pending: 'warn', throttled: 'off', failed: 'bad' }

function FiringStatus({ firing }: { firing: Firing }) {
  return (
    <span class={`status status-${FIRING_CLASS[firing.status] === 'bad' ? 'warn' : (FIRING_CLASS[firing.status] ?? 'off')}`} data-testid="firing-status" data-status={firing.status}>
      <span class={`dot ${FIRING_CLASS[firing.status] ?? 'off'}`} />
      {firing.status}
    </span>
  )
}

/** The enable switch: optimistic, reverted with a message when the server refuses. */
function EnabledSwitch({ automation, onChange }: { automation: Automation; onChange: (a: Automation) => void }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const toggle = async () => {
    const enabled = !automation.enabled
    setBusy(true)
    setError(null)
    onChange({ ...automation, enabled })
    try {
      onChange(await api<Automation>(`/automations/${encodeURIComponent(automation.id)}`, { method: 'PATCH', body: { enabled } }))
    } catch (err) {
      onChange({ ...automation, enabled: !enabled })
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
        aria-checked={automation.enabled}
        aria-label={`Automation ${automation.name}`}
        class={automation.enabled ? 'switch on' : 'switch'}
        disabled={busy}
        onClick={toggle}
        data-testid="automation-toggle"
      >
        <span class="knob" />
      </button>
      <span class="switch-label">{automation.enabled ? 'On' : 'Off'}</span>
      {error ? (
        <span class="form-error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  )
}

function DeleteButton({ automation, onDeleted }: { automation: Automation; onDeleted: () => void }) {
  const [error, setError] = useState<string | null>(null)
  const remove = async () => {
    if (!window.confirm(`Delete the automation "${automation.name}" and its firing history?`)) return
    try {
      await api(`/automations/${encodeURIComponent(automation.id)}`, { method: 'DELETE' })
      onDeleted()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <>
      <button type="button" class="btn danger small" onClick={remove} data-testid="automation-delete">
        Delete
      </button>
      {error ? (
        <span class="form-error" role="alert">
          {error}
        </span>
      ) : null}
    </>
  )
}

function AutomationList() {
  const list = useApi<{ items: Automation[] }>('/automations')
  const [creating, setCreating] = useState(false)
  useInterval(list.reload, 10_000) // last firings change without a live event
  const replace = (a: Automation) => list.setData((prev) => (prev ? { items: prev.items.map((x) => (x.id === a.id ? a : x)) } : prev))
  return (
    <div class="page automations">
      <div class="page-head">
        <div>
          <h1>Automations</h1>
          <p class="lead">When something happens to runs, tell someone (a webhook, Slack-compatible), pause a schedule or start a flow.</p>
        </div>
        <button type="button" class="btn primary" onClick={() => setCreating(true)} data-testid="new-automation">
          + New automation
        </button>
      </div>
      <Card>
        {list.error ? (
          <ErrorBox error={list.error} onRetry={list.reload} />
        ) : !list.data ? (
          <Loading />
        ) : !list.data.items.length ? (
          <Empty>
            No automations yet. Make one here or with <code>rota automations create</code>.
          </Empty>
        ) : (
          <div class="table-wrap">
            <table class="table stack automations-table">
              <thead>
                <tr>
                  <th>Automation</th>
                  <th>When</th>
                  <th>Then</th>
                  <th>Enabled</th>
                  <th>Last firing</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((a) => (
                  <tr key={a.id} data-automation={a.name}>
                    <td class="stack-title">
                      <a href={href('automations', a.id)} class="flow-name">
                        {a.name}
                      </a>
                    </td>
                    <td data-label="When">{describeTrigger(a.trigger)}</td>
                    <td data-label="Then" class="break">
                      {describeAction(a.action)}
                    </td>
                    <td data-label="Enabled">
                      <EnabledSwitch automation={a} onChange={replace} />
                    </td>
                    <td data-label="Last firing">
                      {a.lastFiring ? (
                        <span class="nowrap">
                          <FiringStatus firing={a.lastFiring} /> <TimeAgo iso={a.lastFiring.createdAt} />
                        </span>
                      ) : (
                        <span class="muted">never</span>
                      )}
                    </td>
                    <td class="actions">
                      <DeleteButton automation={a} onDeleted={list.reload} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {creating ? (
        <AutomationDialog
          onClose={() => setCreating(false)}
          onCreated={() => {
            setCreating(false)
            list.reload()
          }}
        />
      ) : null}
    </div>
  )
}

function AutomationDetail({ id }: { id: string }) {
  const automation = useApi<Automation>(`/automations/${encodeURIComponent(id)}`)
  const firings = useApi<{ items: Firing[] }>(`/automations/${encodeURIComponent(id)}/firings?limit=100`)
  useInterval(firings.reload, 5000)
  const a = automation.data
  return (
    <div class="page automation">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a href={href('automations')}>Automations</a> /
          </div>
          <h1>{a?.name ?? 'Automation'}</h1>
        </div>
        {a ? (
          <div class="head-actions">
            <EnabledSwitch automation={a} onChange={(x) => automation.setData(() => x)} />
            <DeleteButton automation={a} onDeleted={() => navigate(href('automations'))} />
          </div>
        ) : null}
      </div>
      {automation.error ? (
        <ErrorBox error={automation.error} onRetry={automation.reload} />
      ) : !a ? (
        <Loading />
      ) : (
        <Card title="What it does">
          <dl class="facts">
            <div class="wide">
              <dt>When</dt>
              <dd data-testid="automation-trigger">{describeTrigger(a.trigger)}</dd>
            </div>
            <div class="wide">
              <dt>Then</dt>
              <dd class="break" data-testid="automation-action">
                {describeAction(a.action)}
                {a.action.type === 'webhook' && a.action.headers ? (
                  <div class="sub">
                    headers: {Object.keys(a.action.headers).join(', ')} (values hidden)
                  </div>
                ) : null}
              </dd>
            </div>
            <div>
              <dt>Minimum gap</dt>
              <dd>{a.minGapSeconds ? formatDurationSeconds(a.minGapSeconds) : 'none'}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>
                <TimeAgo iso={a.createdAt} />
              </dd>
            </div>
          </dl>
        </Card>
      )}
      <Card title="Firings">
        {firings.error ? (
          <ErrorBox error={firings.error} onRetry={firings.reload} />
        ) : !firings.data ? (
          <Loading />
        ) : !firings.data.items.length ? (
          <Empty>It has not fired yet.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table stack compact firings-table">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Why</th>
                  <th>Run</th>
                  <th>Delivery</th>
                  <th class="num">HTTP</th>
                  <th class="num">Attempts</th>
                  <th>Error</th>
                </tr>
              </thead>
              <tbody>
                {firings.data.items.map((f) => (
                  <tr key={f.id} data-firing={f.id}>
                    <td class="nowrap" data-label="When">
                      <TimeAgo iso={f.createdAt} />
                    </td>
                    <td data-label="Why">
                      <span class="tag">{f.kind}</span> {f.message}
                    </td>
                    <td data-label="Run">{f.flowRunId ? <a href={href('runs', f.flowRunId)}>{f.flowRunName ?? f.flowRunId}</a> : <span class="muted">—</span>}</td>
                    <td data-label="Delivery">
                      <FiringStatus firing={f} />
                    </td>
                    <td class="num" data-label="HTTP" data-testid="firing-http">
                      {f.statusCode ?? '—'}
                    </td>
                    <td class="num" data-label="Attempts">
                      {f.attempts}
                    </td>
                    <td data-label="Error" class="break error-text">
                      {f.error ?? ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  )
}

type TriggerType = AutomationTrigger['type']
type ActionType = AutomationAction['type']

const TRIGGERS: { type: TriggerType; label: string }[] = [
  { type: 'flow-run-state', label: 'A run takes a state' },
  { type: 'late', label: 'A run is late' },
  { type: 'no-success', label: 'No success for a while (and recovery)' },
  { type: 'consecutive-failures', label: 'Failures in a row' },
]
const ACTIONS: { type: ActionType; label: string }[] = [
  { type: 'webhook', label: 'Call a webhook (Slack-compatible)' },
  { type: 'pause-schedule', label: "Pause the flow's schedule" },
  { type: 'run-flow', label: 'Start a run of a flow' },
]

/** The form's text, turned into an automation or the first thing wrong with it. */
export function readAutomationForm(f: {
  name: string
  trigger: TriggerType
  flow: string
  states: RunState[]
  duration: string
  count: string
  action: ActionType
  url: string
  headers: string
  targetFlow: string
  parameters: string
  minGap: string
  enabled: boolean
}): { input?: AutomationInput; error?: string } {
  const duration = (raw: string, what: string): number => parseDurationSeconds(raw.trim(), what)
  try {
    if (!f.name.trim()) return { error: 'Give it a name.' }
    const flow = f.flow ? { flow: f.flow } : {}
    let trigger: AutomationTrigger
    if (f.trigger === 'flow-run-state') {
      if (!f.states.length) return { error: 'Choose at least one state.' }
      trigger = { type: 'flow-run-state', ...flow, states: f.states }
    } else if (f.trigger === 'late') trigger = { type: 'late', ...flow, forSeconds: duration(f.duration, 'Late by') }
    else if (f.trigger === 'no-success') {
      if (!f.flow) return { error: 'Choose the flow whose successes are expected.' }
      trigger = { type: 'no-success', flow: f.flow, withinSeconds: duration(f.duration, 'Within') }
    } else {
      const count = Number(f.count)
      if (!Number.isInteger(count) || count < 1) return { error: 'Failures in a row: a whole number, 1 or more.' }
      trigger = { type: 'consecutive-failures', ...flow, count }
    }
    let action: AutomationAction
    if (f.action === 'webhook') {
      const headers: Record<string, string> = {}
      for (const line of f.headers.split('\n').map((l) => l.trim()).filter(Boolean)) {
        const i = line.indexOf(':')
        if (i <= 0) return { error: `Headers are "Name: value", one a line; got "${line}".` }
        headers[line.slice(0, i).trim()] = line.slice(i + 1).trim()
      }
      action = { type: 'webhook', url: f.url.trim(), ...(Object.keys(headers).length ? { headers } : {}) }
    } else if (f.action === 'pause-schedule') action = { type: 'pause-schedule', ...(f.targetFlow ? { flow: f.targetFlow } : {}) }
    else {
      if (!f.targetFlow) return { error: 'Choose the flow to start.' }
      let parameters: unknown = {}
      if (f.parameters.trim()) {
        try {
          parameters = JSON.parse(f.parameters)
        } catch (err) {
          return { error: `Parameters are not JSON: ${(err as Error).message}` }
        }
      }
      if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) return { error: 'Parameters are a JSON object, like {"date": "2026-01-01"}.' }
      action = { type: 'run-flow', flow: f.targetFlow, parameters: parameters as Record<string, unknown> }
    }
    const minGapSeconds = f.minGap.trim() === '' || f.minGap.trim() === '0' ? 0 : duration(f.minGap, 'Minimum gap')
    return { input: { name: f.name.trim(), trigger, action, enabled: f.enabled, minGapSeconds } }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

function AutomationDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (a: Automation) => void }) {
  const flows = useApi<{ items: Flow[] }>('/flows')
  const [form, setForm] = useState({
    name: '',
    trigger: 'flow-run-state' as TriggerType,
    flow: '',
    states: ['failed', 'crashed'] as RunState[],
    duration: '15m',
    count: '3',
    action: 'webhook' as ActionType,
    url: '',
    headers: '',
    targetFlow: '',
    parameters: '',
    minGap: '60s',
    enabled: true,
  })
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const set = <K extends keyof typeof form>(key: K, value: (typeof form)[K]) => setForm({ ...form, [key]: value })
  const flowNames = flows.data?.items.map((f) => f.name) ?? []

  const submit = async (e: Event) => {
    e.preventDefault()
    const { input, error: problem } = readAutomationForm(form)
    if (!input) return setError(problem ?? 'Something is missing.')
    setBusy(true)
    setError(null)
    try {
      onCreated(await api<Automation>('/automations', { method: 'POST', body: input }))
    } catch (err) {
      setError((err as Error).message)
      setBusy(false)
    }
  }

  return (
    <Modal title="New automation" onClose={onClose}>
      <form class="form automation-form" onSubmit={submit}>
        <label>
          Name
          <input type="text" name="name" value={form.name} onInput={(e) => set('name', e.currentTarget.value)} placeholder="BRT failures to Slack" />
        </label>
        <label>
          When
          <select name="trigger" value={form.trigger} onChange={(e) => set('trigger', e.currentTarget.value as TriggerType)}>
            {TRIGGERS.map((t) => (
              <option key={t.type} value={t.type}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Flow
          <select name="flow" value={form.flow} onChange={(e) => set('flow', e.currentTarget.value)}>
            <option value="">{form.trigger === 'no-success' ? 'choose a flow' : 'any flow'}</option>
            {flowNames.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        {form.trigger === 'flow-run-state' ? (
          <fieldset class="field">
            <legend>States</legend>
            <div class="toolbar">
              {STATES.map((s) => (
                <label key={s} class="check">
                  <input
                    type="checkbox"
                    name={`state-${s}`}
                    checked={form.states.includes(s)}
                    onChange={(e) => set('states', e.currentTarget.checked ? [...form.states, s] : form.states.filter((x) => x !== s))}
                  />
                  {s}
                </label>
              ))}
            </div>
          </fieldset>
        ) : form.trigger === 'consecutive-failures' ? (
          <label>
            Failures in a row
            <input type="text" inputMode="numeric" name="count" value={form.count} onInput={(e) => set('count', e.currentTarget.value)} />
          </label>
        ) : (
          <label>
            {form.trigger === 'late' ? 'Late by' : 'Without a success for'}
            <input type="text" name="duration" value={form.duration} onInput={(e) => set('duration', e.currentTarget.value)} placeholder="60s, 15m, 2h" />
          </label>
        )}
        <label>
          Then
          <select name="action" value={form.action} onChange={(e) => set('action', e.currentTarget.value as ActionType)}>
            {ACTIONS.map((a) => (
              <option key={a.type} value={a.type}>
                {a.label}
              </option>
            ))}
          </select>
        </label>
        {form.action === 'webhook' ? (
          <>
            <label>
              URL
              <input type="text" name="url" value={form.url} onInput={(e) => set('url', e.currentTarget.value)} placeholder="https://hooks.slack.com/services/..." />
            </label>
            <label>
              Headers <span class="muted">(optional, "Name: value" a line; never shown again)</span>
              <textarea name="headers" rows={2} spellcheck={false} value={form.headers} onInput={(e) => set('headers', e.currentTarget.value)} />
            </label>
          </>
        ) : (
          <>
            <label>
              {form.action === 'run-flow' ? 'Flow to start' : 'Flow to pause'}
              <select name="targetFlow" value={form.targetFlow} onChange={(e) => set('targetFlow', e.currentTarget.value)}>
                <option value="">{form.action === 'run-flow' ? 'choose a flow' : "the run's flow"}</option>
                {flowNames.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            </label>
            {form.action === 'run-flow' ? (
              <label>
                Parameters <span class="muted">(JSON, optional)</span>
                <textarea name="parameters" rows={2} spellcheck={false} value={form.parameters} onInput={(e) => set('parameters', e.currentTarget.value)} />
              </label>
            ) : null}
          </>
        )}
        <label>
          Minimum gap between deliveries
          <input type="text" name="minGap" value={form.minGap} onInput={(e) => set('minGap', e.currentTarget.value)} placeholder="60s (0 for none)" />
        </label>
        <label class="check">
          <input type="checkbox" name="enabled" checked={form.enabled} onChange={(e) => set('enabled', e.currentTarget.checked)} />
          Enabled
        </label>
        <FormEnd error={error} busy={busy} submit="Create" busyLabel="Saving…" onCancel={onClose} />
      </form>
    </Modal>
  )
}

export function AutomationsPage({ route }: { route: Route }) {
  return route.path[1] ? <AutomationDetail key={route.path[1]} id={route.path[1]} /> : <AutomationList />
}
