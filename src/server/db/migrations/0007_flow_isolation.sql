-- A flow may ask where agents run it: 'process' (a process per run) or 'shared' (long-lived workers
-- running many runs at once). Null: the agent's own --isolation decides.
alter table rota_flows add column isolation text check (isolation in ('process', 'shared'));
