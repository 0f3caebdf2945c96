/**
 * Rota's flow SDK: the public surface that flows import as `rota`.
 *
 *   import { defineFlow, task, skip, log } from 'rota'
 */
export { defineFlow, isFlow, type FlowDefinition, type FlowOptions } from './flow.ts'
export { task, skip, Skipped, TaskFailedError, TaskTimeoutError, type TaskOptions, type TaskFn, type TaskMap } from './task.ts'
export { ChildFlowError } from './control.ts'
export type { MapOptions } from './map.ts'
export { log, artifact, runContext, type ArtifactOptions, type RunContext, type LogLevel } from './context.ts'
export type { ArtifactKind } from '../core/artifacts.ts'
export { type ScheduleInput } from '../core/schedule.ts'
