-- What the dashboard and the CLI need to tell the truth about task runs (issue 13).
-- A failed task run keeps the stack of its error (source-mapped to the TypeScript file and line).
alter table rota_task_runs add column stack text;
-- The task runs whose results fed this one (data flow, recorded by the SDK): the run page's graph.
alter table rota_task_runs add column inputs jsonb not null default '[]';
-- One entry per attempt ({ attempt, state, startTime, endTime, message }): the Gantt draws each.
alter table rota_task_runs add column attempt_log jsonb not null default '[]';
-- The tasks a flow's runs called, in order (the flow's task list when it declares none).
alter table rota_flows add column seen_tasks jsonb not null default '[]';
