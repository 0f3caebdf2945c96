{#-
  gold.brt_line_speed_10min: per line and 10-minute window of GPS time, over usable, in-service
  signals with a plausible speed (flagged rows never count): vehicles, average and p90 speed, share
  moving, and how complete the window is (observations, captures, is_complete).

  Incremental (MERGE on line, window_start): a build recomputes, for every line, the windows its
  batch can change: those holding the batch's signals (GPS times from the first capture minus the
  stale limit to the last plus the future tolerance) and those whose completeness its captures
  change. Silver is read between literal time bounds, so the cost follows the batch, not the table.
  A window is complete once `min_captures_per_window` captures were taken during it and a capture
  taken after its end plus the stale limit has been loaded (no usable signal can join it after that).
-#}
{{
  config(
    materialized = 'incremental',
    unique_key = ['line', 'window_start'],
    incremental_strategy = 'merge',
    meta = {'merge_prune': ({'column': 'window_start', 'data_type': 'timestamp'} if target.type == 'bigquery' else none)},
    on_schema_change = 'append_new_columns',
    partition_by = ({'field': 'window_start', 'data_type': 'timestamp', 'granularity': 'day'} if target.type == 'bigquery' else none),
    cluster_by = (['line'] if target.type == 'bigquery' else none),
  )
}}
-- depends_on: {{ ref('brt_gps_batch') }}

{%- set bounds = brt_batch_bounds() if is_incremental() else none %}
{%- set stale = var('stale_after_minutes') %}
{%- if bounds is not none %}
  {#- Windows a batch can change start from floor_10min(first capture - stale - 10 min) and end
      by the last capture + future tolerance; silver is read over that range. -#}
  {%- set lower = floor_10min(add_minutes(utc_literal(bounds['min_captured_at']), -(stale + 10))) %}
  {%- set upper = add_minutes(utc_literal(bounds['max_captured_at']), var('future_tolerance_minutes') + 10) %}
{%- endif %}

with observations as (
  select line, vehicle_id, speed_kmh, capture_id, captured_at, {{ floor_10min('gps_time_utc') }} as window_start
  from {{ ref('brt_gps') }}
  where is_usable and not is_out_of_service
    and speed_kmh is not null and not is_speed_negative and not is_speed_implausible
  {%- if is_incremental() %}
    {%- if bounds is none %}
    and false
    {%- else %}
    and gps_time_utc >= {{ lower }} and gps_time_utc < {{ upper }}
    {%- endif %}
  {%- endif %}
),

captures_taken as (
  select {{ floor_10min('captured_at') }} as window_start, count(*) as captures_taken
  from {{ ref('brt_captures') }}
  {%- if bounds is not none %}
  where captured_at >= {{ lower }}
  {%- endif %}
  group by 1
),

newest_capture as (
  select max(captured_at) as newest_captured_at from {{ ref('brt_captures') }}
),

windows as (
  select
    line,
    window_start,
    count(distinct vehicle_id)                                    as vehicles_in_service,
    avg(speed_kmh)                                                as avg_speed_kmh,
    {{ p90('speed_kmh') }}                                        as p90_speed_kmh,
    avg(case when speed_kmh > 0 then 1.0 else 0.0 end)            as share_moving,
    count(*)                                                      as observations,
    count(distinct capture_id)                                    as captures,
    max(captured_at)                                              as last_captured_at
  from observations
  group by line, window_start
)

select
  w.line,
  w.window_start,
  {{ utc_to_sao_paulo('w.window_start') }}                        as window_start_local,
  w.vehicles_in_service,
  w.avg_speed_kmh,
  w.p90_speed_kmh,
  w.share_moving,
  w.observations,
  w.captures,
  coalesce(t.captures_taken, 0)                                   as captures_taken,
  (coalesce(t.captures_taken, 0) >= {{ var('min_captures_per_window') }}
     and n.newest_captured_at >= {{ add_minutes('w.window_start', 10 + stale) }}) as is_complete,
  w.last_captured_at,
  {{ build_time() }}                                              as built_at
from windows w
cross join newest_capture n
left join captures_taken t on t.window_start = w.window_start
