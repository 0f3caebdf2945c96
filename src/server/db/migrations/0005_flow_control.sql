-- Flow control (issue 12): per-flow concurrency, slot pools, priorities, child flow runs, backfills.
-- Slots are never stored as counters: a run holds its flow's slot, its flow pool's slot and its
-- backfill's slot while it is active (pending, running, retrying, cancelling), and a task holds a
-- pool slot while its row says held AND its run is active. Every terminal state, a crash included,
-- therefore frees what the run held without any bookkeeping.

-- maxActiveRuns (null: no limit), what a run beyond it does, the pool the whole run takes a slot of,
-- and the pools its tasks use (task name -> pool, for the dashboard).
alter table rota_flows add column max_active_runs integer check (max_active_runs is null or max_active_runs > 0);
alter table rota_flows add column overlap text not null default 'queue' check (overlap in ('queue', 'skip', 'cancel-running'));
alter table rota_flows add column pool text;
alter table rota_flows add column task_pools jsonb not null default '{}';

-- Named slot pools shared across flows and tasks. A pool named by a flow or a task that does not
-- exist yet is created with 1 slot (the safe default: a pool exists to keep things apart).
create table rota_pools (
  name        text primary key,
  slots       integer not null check (slots >= 0),
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

-- A task's request for a slot: waiting, then held until the task releases it or its run ends.
create table rota_pool_slots (
  id            bigint generated always as identity primary key,
  pool          text not null references rota_pools(name) on delete cascade,
  flow_run_id   uuid not null references rota_flow_runs(id) on delete cascade,
  task_run_id   uuid not null,
  task_key      text not null,
  task_name     text not null,
  state         text not null check (state in ('waiting', 'held')),
  requested_at  timestamptz not null default now(),
  acquired_at   timestamptz,
  -- a waiter that stopped asking (its process is gone) is passed over after a while
  seen_at       timestamptz not null default now(),
  unique (flow_run_id, task_run_id)
);
create index rota_pool_slots_pool on rota_pool_slots (pool, state);

-- A backfill: runs for the schedule times of a range, throttled by max_active.
create table rota_backfills (
  id            uuid primary key default gen_random_uuid(),
  flow_id       uuid not null references rota_flows(id) on delete cascade,
  range_from    timestamptz not null,
  range_to      timestamptz not null,
  missing_only  boolean not null default false,
  max_active    integer check (max_active is null or max_active > 0),
  created_runs  integer not null default 0,
  created_at    timestamptz not null default now()
);

alter table rota_flow_runs add column priority integer not null default 0;
-- a child flow run: started by a flow's body, executed inside its parent's process
alter table rota_flow_runs add column parent_run_id uuid references rota_flow_runs(id) on delete cascade;
alter table rota_flow_runs add column backfill_id uuid references rota_backfills(id) on delete set null;
-- the pool whose slot the run holds while active: its flow's pool when it was claimed
alter table rota_flow_runs add column pool text;
-- what the flow function returned, as JSON
alter table rota_flow_runs add column result jsonb;

-- The schedule key: one run per (flow, schedule time) among the scheduler's runs and the backfill
-- runs that stand for a time (a backfill re-run of a failed time is a retry of it and holds no key).
-- The scheduler's `on conflict (flow_id, scheduled_start_time) where auto_scheduled` still infers it.
drop index rota_flow_runs_schedule_key;
create unique index rota_flow_runs_schedule_key on rota_flow_runs (flow_id, scheduled_start_time) where auto_scheduled or (backfill_id is not null and retry_of is null);

create index rota_flow_runs_active_by_flow on rota_flow_runs (flow_id) where state in ('pending', 'running', 'retrying', 'cancelling');
create index rota_flow_runs_active_by_pool on rota_flow_runs (pool) where pool is not null and state in ('pending', 'running', 'retrying', 'cancelling');
create index rota_flow_runs_by_backfill on rota_flow_runs (backfill_id) where backfill_id is not null;
create index rota_flow_runs_children on rota_flow_runs (parent_run_id) where parent_run_id is not null;
create index rota_flow_runs_retries on rota_flow_runs (retry_of) where retry_of is not null;

alter table rota_task_runs add column map_index integer;
