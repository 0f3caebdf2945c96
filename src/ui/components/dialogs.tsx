import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError, keyAccepted, setApiKey } from '../api.ts'
import type { Flow, FlowParameter, FlowRun } from '../types.ts'

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])'
let modalIds = 0

/**
 * A dialog over the page. It takes the focus when it opens (its first field, else its first
 * button), keeps Tab and Shift+Tab inside, closes on Escape or a click outside (when it may be
 * closed), and gives the focus back to what had it before.
 */
export function Modal({ title, onClose, children, initialFocus }: { title: string; onClose?: () => void; children: ComponentChildren; initialFocus?: string }) {
  const box = useRef<HTMLDivElement>(null)
  const [titleId] = useState(() => `modal-title-${++modalIds}`)
  const close = useRef(onClose)
  close.current = onClose
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null
    const el = box.current
    if (el) {
      const wanted = initialFocus ? el.querySelector<HTMLElement>(initialFocus) : null
      const field = el.querySelector<HTMLElement>('input:not([disabled]), select:not([disabled]), textarea:not([disabled])')
      const first = [...el.querySelectorAll<HTMLElement>(FOCUSABLE)].find((e) => !e.classList.contains('icon-btn'))
      ;(wanted ?? field ?? first ?? el).focus()
    }
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && close.current) {
        e.preventDefault()
        close.current()
        return
      }
      if (e.key !== 'Tab' || !box.current) return
      const items = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((i) => i.offsetParent !== null)
      if (items.length === 0) {
        e.preventDefault()
        return
      }
      const firstItem = items[0] as HTMLElement
      const lastItem = items[items.length - 1] as HTMLElement
      if (e.shiftKey && (document.activeElement === firstItem || !box.current.contains(document.activeElement))) {
        e.preventDefault()
        lastItem.focus()
      } else if (!e.shiftKey && (document.activeElement === lastItem || !box.current.contains(document.activeElement))) {
        e.preventDefault()
        firstItem.focus()
      }
    }
    document.addEventListener('keydown', onKey, true)
    return () => {
      document.removeEventListener('keydown', onKey, true)
      if (opener && opener.isConnected) opener.focus()
    }
  }, [])
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && onClose?.()}>
      <div class="modal" role="dialog" aria-modal="true" aria-labelledby={titleId} ref={box} tabIndex={-1}>
        <header class="modal-head">
          <h2 id={titleId}>{title}</h2>
          {onClose ? (
            <button type="button" class="icon-btn" aria-label="Close" onClick={onClose}>
              ×
            </button>
          ) : null}
        </header>
        {children}
      </div>
    </div>
  )
}

/**
 * Asks before an action that cannot be undone (cancel runs, retry many). The safe choice has the
 * focus, so Enter never confirms by accident; the action button says exactly what it does.
 */
/** The end of a dialog's form: its error (if any), Cancel, and the submit button (disabled while busy). */
export function FormEnd({ error, busy, submit, busyLabel, onCancel }: { error: string | null | undefined; busy: boolean; submit: string; busyLabel: string; onCancel: () => void }) {
  return (
    <>
      {error ? (
        <p class="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <div class="form-actions">
        <button type="button" class="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="btn primary" disabled={busy}>
          {busy ? busyLabel : submit}
        </button>
      </div>
    </>
  )
}

export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  cancelLabel = 'Keep them',
  danger = false,
  busy = false,
  onConfirm,
  onClose,
}: {
  title: string
  children: ComponentChildren
  confirmLabel: string
  cancelLabel?: string
  danger?: boolean
  busy?: boolean
  onConfirm: () => void
  onClose: () => void
}) {
  return (
    <Modal title={title} onClose={busy ? undefined : onClose} initialFocus="[data-choice=cancel]">
      <div class="form" data-testid="confirm-dialog">
        <div>{children}</div>
        <div class="form-actions">
          <button type="button" class="btn" data-choice="cancel" onClick={onClose} disabled={busy}>
            {cancelLabel}
          </button>
          <button type="button" class={danger ? 'btn danger-solid' : 'btn primary'} data-choice="confirm" onClick={onConfirm} disabled={busy}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </div>
    </Modal>
  )
}

export function ApiKeyDialog({ onSaved }: { onSaved: () => void }) {
  const [key, setKey] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const input = useRef<HTMLInputElement>(null)
  const submit = async (e: Event) => {
    e.preventDefault()
    if (!key.trim()) return
    setBusy(true)
    setApiKey(key.trim())
    try {
      // Any protected read proves the key; /flows is cheap.
      await api('/flows')
      keyAccepted()
      onSaved()
    } catch (err) {
      setApiKey(null)
      setError(err instanceof ApiError && err.status === 401 ? 'That key was refused by the server.' : (err as Error).message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <Modal title="API key needed">
      <form onSubmit={submit} class="form">
        <p class="muted">This Rota server is protected. Enter its API key (the server's ROTA_API_KEY); it is kept in this browser only.</p>
        <label>
          API key
          <input ref={input} name="apiKey" type="password" autocomplete="current-password" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        </label>
        {error ? (
          <p class="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <div class="form-actions">
          <button type="submit" class="btn primary" disabled={busy || !key.trim()}>
            {busy ? 'Checking…' : 'Save key'}
          </button>
        </div>
      </form>
    </Modal>
  )
}

function initialText(p: FlowParameter): string {
  if (p.secret) return ''
  if (p.default === undefined || p.default === null) return ''
  if (p.type === 'json') return JSON.stringify(p.default, null, 2)
  return String(p.default)
}

/** Turn the form's text into typed parameter values; returns an error per field that does not parse. */
export function readParameters(params: FlowParameter[], text: Record<string, string>, bools: Record<string, boolean>): { values: Record<string, unknown>; errors: Record<string, string> } {
  const values: Record<string, unknown> = {}
  const errors: Record<string, string> = {}
  for (const p of params) {
    if (p.type === 'boolean') {
      values[p.name] = bools[p.name] ?? false
      continue
    }
    const raw = text[p.name] ?? ''
    if (p.secret && raw === '') continue // keep the server-side default without ever showing it
    if (p.type === 'number') {
      if (raw.trim() === '') {
        if (p.default !== undefined && p.default !== null) errors[p.name] = 'Enter a number'
        continue
      }
      const n = Number(raw)
      if (!Number.isFinite(n)) errors[p.name] = `"${raw}" is not a number`
      else values[p.name] = n
    } else if (p.type === 'json') {
      if (raw.trim() === '') continue
      try {
        values[p.name] = JSON.parse(raw)
      } catch (err) {
        errors[p.name] = `Not valid JSON: ${(err as Error).message}`
      }
    } else {
      values[p.name] = raw
    }
  }
  return { values, errors }
}

const INT32_MAX = 2 ** 31 - 1

/** A priority typed in a form: a whole number (empty is 0); a message otherwise. */
export function readPriority(text: string): { value: number } | { error: string } {
  const t = text.trim()
  if (t === '') return { value: 0 }
  const n = Number(t)
  if (!/^[+-]?\d+$/.test(t) || Math.abs(n) > INT32_MAX) return { error: `a whole number from -${INT32_MAX} to ${INT32_MAX} (higher runs first)` }
  return { value: n }
}

export function QuickRunDialog({ flow, onClose, onStarted }: { flow: Flow; onClose: () => void; onStarted: (run: FlowRun) => void }) {
  const [text, setText] = useState<Record<string, string>>(() => Object.fromEntries(flow.parameters.map((p) => [p.name, initialText(p)])))
  const [bools, setBools] = useState<Record<string, boolean>>(() => Object.fromEntries(flow.parameters.filter((p) => p.type === 'boolean').map((p) => [p.name, p.default === true])))
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [formError, setFormError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [priorityText, setPriorityText] = useState('0')

  const submit = async (e: Event) => {
    e.preventDefault()
    const { values, errors: errs } = readParameters(flow.parameters, text, bools)
    const priority = readPriority(priorityText)
    if ('error' in priority) errs['(priority)'] = priority.error
    setErrors(errs)
    if (Object.keys(errs).length) return
    setBusy(true)
    setFormError(null)
    try {
      const body = { parameters: values, ...('value' in priority && priority.value ? { priority: priority.value } : {}) }
      const run = await api<FlowRun>(`/flows/${encodeURIComponent(flow.name)}/runs`, { method: 'POST', body })
      onStarted(run)
    } catch (err) {
      setFormError((err as Error).message)
      setBusy(false)
    }
  }

  return (
    <Modal title={`Quick Run · ${flow.name}`} onClose={onClose}>
      <form onSubmit={submit} class="form quick-run" data-flow={flow.name}>
        {flow.parameters.length === 0 ? <p class="muted">This flow takes no parameters.</p> : null}
        {flow.parameters.map((p) => (
          <div class="field" key={p.name}>
            {p.type === 'boolean' ? (
              <label class="check">
                <input type="checkbox" name={p.name} checked={bools[p.name] ?? false} onChange={(e) => setBools({ ...bools, [p.name]: e.currentTarget.checked })} />
                <span>
                  {p.name} <code class="type">boolean</code>
                </span>
              </label>
            ) : (
              <label>
                <span>
                  {p.name} <code class="type">{p.type}</code>
                  {p.secret ? <span class="tag">secret</span> : null}
                </span>
                {p.type === 'json' ? (
                  <textarea name={p.name} rows={4} spellcheck={false} value={text[p.name] ?? ''} onInput={(e) => setText({ ...text, [p.name]: e.currentTarget.value })} />
                ) : (
                  <input
                    name={p.name}
                    type={p.secret ? 'password' : p.type === 'number' ? 'text' : 'text'}
                    inputMode={p.type === 'number' ? 'decimal' : undefined}
                    autocomplete="off"
                    placeholder={p.secret ? 'leave empty to use the stored value' : undefined}
                    value={text[p.name] ?? ''}
                    onInput={(e) => setText({ ...text, [p.name]: e.currentTarget.value })}
                  />
                )}
              </label>
            )}
            {errors[p.name] ? <small class="form-error">{errors[p.name]}</small> : null}
          </div>
        ))}
        <div class="field">
          <label>
            <span>
              priority <code class="type">integer</code>
            </span>
            <input name="(priority)" inputMode="numeric" autocomplete="off" value={priorityText} onInput={(e) => setPriorityText(e.currentTarget.value)} />
          </label>
          {errors['(priority)'] ? <small class="form-error">{errors['(priority)']}</small> : null}
        </div>
        <FormEnd error={formError} busy={busy} submit="Run now" busyLabel="Starting…" onCancel={onClose} />
      </form>
    </Modal>
  )
}
