/**
 * Pages a plugin adds to the dashboard. A plugin's dashboard module (its `dashboard` field in
 * `definePlugin`) default-exports a `DashboardPlugin`; the build (scripts/build-ui.ts) imports
 * every plugin's module and hands them to `startDashboard`, which lists them after Rota's own pages.
 */
import type { ComponentChildren } from 'preact'
import type { Route } from './router.ts'

export interface DashboardPage {
  /** The first segment of the hash route (`brt` for `#/brt`); '' is the home page. */
  readonly path: string
  /** In the navigation and the window title. */
  readonly label: string
  /** One character for the navigation. */
  readonly icon: string
  /** The page; `route.path[1...]` and `route.query` are its own. */
  readonly render: (route: Route) => ComponentChildren
}

export interface DashboardPlugin {
  readonly pages: readonly DashboardPage[]
}
