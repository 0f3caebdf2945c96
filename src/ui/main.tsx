/**
 * The Rota dashboard: one Preact app, hash-routed, talking to /api. Entry point of the esbuild bundle
 * (scripts/build-ui.ts -> dist/ui/app.js + app.css).
 */
import './styles.css'
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { getApiKey, onNeedKey, setApiKey } from './api.ts'
import { ApiKeyDialog } from './components/dialogs.tsx'
import { startLive, useLiveStatus } from './live.ts'
import { href, useRoute, type Route } from './router.ts'
import { HomePage } from './pages/Home.tsx'
import { FlowsPage } from './pages/Flows.tsx'
import { FlowPage } from './pages/Flow.tsx'
import { FlowRunPage } from './pages/FlowRun.tsx'
import { RunsPage } from './pages/Runs.tsx'
import { AgentsPage } from './pages/Agents.tsx'
import { BrtPage } from './pages/Brt.tsx'

const NAV = [
  { key: '', label: 'Dashboard', icon: '◧' },
  { key: 'flows', label: 'Flows', icon: '⇶' },
  { key: 'runs', label: 'Runs', icon: '▶' },
  { key: 'agents', label: 'Agents', icon: '⚙' },
  { key: 'brt', label: 'BRT data', icon: '◉' },
] as const

function Page({ route }: { route: Route }) {
  const [section, id] = route.path
  switch (section) {
    case undefined:
      return <HomePage />
    case 'flows':
      return id ? <FlowPage key={id} name={id} /> : <FlowsPage />
    case 'runs':
      return id ? <FlowRunPage key={id} id={id} /> : <RunsPage route={route} />
    case 'agents':
      return <AgentsPage />
    case 'brt':
      return <BrtPage />
    default:
      return (
        <div class="page">
          <h1>Not found</h1>
          <p>
            No page at <code>{location.hash}</code>. <a href="#/">Go to the dashboard</a>.
          </p>
        </div>
      )
  }
}

function LiveIndicator() {
  const live = useLiveStatus()
  return (
    <span class={live ? 'live-status on' : 'live-status'} title={live ? 'Receiving live updates' : 'Live updates disconnected; retrying'} data-testid="live-status">
      <span class="dot" /> {live ? 'Live' : 'Offline'}
    </span>
  )
}

function App() {
  const route = useRoute()
  const [needKey, setNeedKey] = useState(false)
  // Bumped when a key is saved: remounts the page so every widget refetches with the key.
  const [generation, setGeneration] = useState(0)
  const [hasKey, setHasKey] = useState(() => getApiKey() !== null)

  useEffect(() => onNeedKey(() => setNeedKey(true)), [])
  useEffect(() => {
    startLive()
  }, [generation])
  useEffect(() => {
    const label = route.path[0] ? (NAV.find((n) => n.key === route.path[0])?.label ?? 'Rota') : 'Dashboard'
    document.title = route.path[1] ? `${route.path[1]} · ${label} · Rota` : `${label} · Rota`
    window.scrollTo(0, 0)
  }, [route.path.join('/')])

  const section = route.path[0] ?? ''
  return (
    <div class="shell">
      <nav class="sidebar" aria-label="Main">
        <a class="brand" href="#/">
          <span class="logo" aria-hidden="true">
            R
          </span>
          Rota
        </a>
        <ul>
          {NAV.map((n) => (
            <li key={n.key}>
              <a href={n.key ? href(n.key) : '#/'} class={section === n.key ? 'active' : ''} aria-current={section === n.key ? 'page' : undefined}>
                <span class="nav-icon" aria-hidden="true">
                  {n.icon}
                </span>
                {n.label}
              </a>
            </li>
          ))}
        </ul>
        <div class="sidebar-foot">
          <LiveIndicator />
          {hasKey ? (
            <button
              type="button"
              class="link-btn"
              onClick={() => {
                setApiKey(null)
                setHasKey(false)
                setGeneration((g) => g + 1)
              }}
            >
              Forget API key
            </button>
          ) : null}
        </div>
      </nav>
      <main class="content" key={generation}>
        <Page route={route} />
      </main>
      {needKey ? (
        <ApiKeyDialog
          onSaved={() => {
            setNeedKey(false)
            setHasKey(true)
            setGeneration((g) => g + 1)
          }}
        />
      ) : null}
    </div>
  )
}

const root = document.getElementById('app')
if (!root) throw new Error('index.html has no #app element')
render(<App />, root)
