-- Running for a year unattended: retention, automations (src/server/retention.ts, src/server/automations/).

-- A flow's own retention ({ maxAgeSeconds?, keepLast? }); null: the server's ROTA_RETENTION*.
alter table rota_flows add column retention jsonb;

-- Deleting a run sets retry_of to null in its retries: without this index every deleted run would
-- scan the whole runs table to find them (the retention sweep deletes hundreds per statement).
create index rota_flow_runs_retry_of on rota_flow_runs (retry_of) where retry_of is not null;

create table rota_automations (
  id              uuid primary key default gen_random_uuid(),
  name            text not null unique,
  enabled         boolean not null default true,
  -- AutomationTrigger and AutomationAction of src/core/contract.ts; header values in clear (never answered)
  trigger         jsonb not null,
  action          jsonb not null,
  min_gap_seconds integer not null default 60,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);

-- One line per firing: claimed by insert-on-conflict on (automation, dedupe key), so several servers
-- evaluating the same trigger fire once; delivered under a lease (at least once, retried with backoff).
create table rota_automation_firings (
  id              bigint generated always as identity primary key,
  automation_id   uuid not null references rota_automations(id) on delete cascade,
  -- 'run:<id>' (at most one firing per run), 'breach:<last success>', 'recovery:<last success>', 'streak:<first failure>'
  dedupe_key      text not null,
  kind            text not null check (kind in ('flow-run-state', 'late', 'no-success', 'recovery', 'consecutive-failures')),
  -- no foreign key: the history outlives the run (retention)
  flow_run_id     uuid,
  flow_run_name   text,
  flow_name       text,
  state           text,
  message         text not null,
  payload         jsonb not null,
  status          text not null check (status in ('pending', 'delivered', 'failed', 'throttled')),
  attempts        integer not null default 0,
  status_code     integer,
  error           text,
  next_attempt_at timestamptz not null default now(),
  lease_until     timestamptz,
  created_at      timestamptz not null default now(),
  finished_at     timestamptz,
  unique (automation_id, dedupe_key)
);
create index rota_automation_firings_history on rota_automation_firings (automation_id, id desc);
create index rota_automation_firings_due on rota_automation_firings (next_attempt_at) where status = 'pending';
