import { Card } from '../components/common.tsx'
import { RunsList } from '../components/RunsList.tsx'
import { query } from '../api.ts'
import { href, navigate, type Route } from '../router.ts'

export function RunsPage({ route }: { route: Route }) {
  const state = route.query.get('state') ?? undefined
  const flow = route.query.get('flow') ?? undefined
  return (
    <div class="page runs">
      <div class="page-head">
        <h1>Flow runs</h1>
        {flow ? (
          <span class="muted">
            of <a href={href('flows', flow)}>{flow}</a>
          </span>
        ) : null}
      </div>
      <Card>
        <RunsList key={`${flow ?? ''}|${state ?? ''}`} flow={flow} state={state} onStateChange={(s) => navigate(href('runs') + query({ flow, state: s }))} />
      </Card>
    </div>
  )
}
