-- Rota schema, version 1. Runs unchanged on PostgreSQL and PGlite.
-- States are text guarded by CHECK constraints that mirror src/server/orchestration/states.ts.

create table rota_flows (
  id                  uuid primary key default gen_random_uuid(),
  name                text not null unique,
  description         text not null default '',
  version             text not null,
  entrypoint          text not null,
  schedule            jsonb,
  schedule_active     boolean not null default true,
  parameters          jsonb not null default '[]',
  tasks               jsonb not null default '[]',
  labels              jsonb not null default '[]',
  catch_up            text not null default 'latest' check (catch_up in ('latest', 'all')),
  retries             integer not null default 0,
  retry_delay_seconds integer not null default 10,
  -- the scheduler's cursor: runs up to this instant exist, so a restart neither repeats nor skips ticks
  scheduled_until     timestamptz,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);

create table rota_agents (
  id             uuid primary key default gen_random_uuid(),
  name           text not null unique,
  type           text not null check (type in ('local', 'docker')),
  labels         jsonb not null default '[]',
  concurrency    integer not null default 4,
  started_at     timestamptz not null default now(),
  last_heartbeat timestamptz not null default now(),
  stopped_at     timestamptz
);

create table rota_flow_runs (
  id                   uuid primary key default gen_random_uuid(),
  flow_id              uuid not null references rota_flows(id) on delete cascade,
  name                 text not null,
  state                text not null check (state in ('scheduled','pending','running','retrying','success','failed','skipped','cancelling','cancelled','crashed')),
  state_message        text,
  parameters           jsonb not null default '{}',
  scheduled_start_time timestamptz not null,
  -- true for runs the scheduler made: (flow, time) is unique among them, so replicas and restarts never duplicate
  auto_scheduled       boolean not null default false,
  flow_version         text not null,
  start_time           timestamptz,
  end_time             timestamptz,
  agent_id             uuid references rota_agents(id) on delete set null,
  attempt              integer not null default 1,
  retry_of             uuid references rota_flow_runs(id) on delete set null,
  heartbeat_at         timestamptz,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now()
);
create unique index rota_flow_runs_schedule_key on rota_flow_runs (flow_id, scheduled_start_time) where auto_scheduled;
create index rota_flow_runs_due on rota_flow_runs (scheduled_start_time) where state = 'scheduled';
create index rota_flow_runs_active on rota_flow_runs (agent_id) where state in ('pending', 'running', 'cancelling');
create index rota_flow_runs_list on rota_flow_runs (scheduled_start_time desc, id desc);
create index rota_flow_runs_by_flow on rota_flow_runs (flow_id, scheduled_start_time desc, id desc);
create index rota_flow_runs_by_state on rota_flow_runs (state, scheduled_start_time desc, id desc);

create table rota_flow_run_states (
  id          bigint generated always as identity primary key,
  flow_run_id uuid not null references rota_flow_runs(id) on delete cascade,
  from_state  text,
  to_state    text not null,
  message     text,
  time        timestamptz not null default now()
);
create index rota_flow_run_states_run on rota_flow_run_states (flow_run_id, id);

create table rota_task_runs (
  id          uuid primary key,
  flow_run_id uuid not null references rota_flow_runs(id) on delete cascade,
  task_key    text not null,
  task_name   text not null,
  position    integer not null,
  state       text not null check (state in ('scheduled','pending','running','retrying','success','failed','skipped','cancelling','cancelled','crashed')),
  message     text,
  attempts    integer not null default 0,
  start_time  timestamptz,
  end_time    timestamptz,
  updated_at  timestamptz not null default now(),
  unique (flow_run_id, task_key)
);

create table rota_logs (
  id          bigint generated always as identity primary key,
  flow_run_id uuid not null references rota_flow_runs(id) on delete cascade,
  task_name   text,
  source      text not null default '',
  seq         bigint not null,
  time        timestamptz not null,
  level       text not null check (level in ('debug', 'info', 'warn', 'error')),
  message     text not null,
  -- a batch that is sent twice (the agent retried after a timeout) is stored once
  unique (flow_run_id, source, seq)
);

create table rota_artifacts (
  id          bigint generated always as identity primary key,
  flow_run_id uuid not null references rota_flow_runs(id) on delete cascade,
  task_name   text,
  key         text not null,
  data        jsonb not null,
  created_at  timestamptz not null default now()
);
create index rota_artifacts_run on rota_artifacts (flow_run_id, id);
