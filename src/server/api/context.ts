import type { RotaConfig } from '../../config.ts'
import type { Db } from '../db/index.ts'
import type { EventBus } from '../events.ts'
import type { LoadedPlugin } from '../../plugin.ts'
import type { Ops } from '../ops.ts'

export interface ServerContext {
  db: Db
  bus: EventBus
  config: RotaConfig
  version: string
  /** Aborted when the server stops: long polls and streams end. */
  shutdown: AbortSignal
  /** Their routes are mounted under /api/<name>. */
  plugins: readonly LoadedPlugin[]
  /** The environment the configuration came from: plugins resolve their settings from it. */
  env: NodeJS.ProcessEnv
  /**
   * The project folder agents import flows from, when this server shares it (`rota up`, a server
   * in the project's image): registration then also follows the entrypoint's symbolic links.
   */
  projectRoot?: string | undefined
  /** Retention policy, storage facts, metrics; made by createApp when absent (a bare app in a test). */
  ops?: Ops
}
