/** The BRT plugin's dashboard pages (bundled through package.json "rota.plugins" -> plugin.ts `dashboard`). */
import type { DashboardPlugin } from '../../../src/ui/plugins.ts'
import { BrtPage } from './BrtPage.tsx'

const dashboard: DashboardPlugin = {
  pages: [{ path: 'brt', label: 'BRT data', icon: '◉', render: () => <BrtPage /> }],
}
export default dashboard
