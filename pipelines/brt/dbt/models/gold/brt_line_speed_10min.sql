{#-
  Speed per line and 10-minute window (UTC-aligned, which is also aligned in Sao Paulo time).
  Incremental: only windows touched by silver rows loaded after the last build are recomputed
  (delete + insert on line and window), so a day-long table costs a few windows per run. Load time,
  not capture time, decides: a window published late (after a crash) is still picked up.
-#}
{{
  config(
    materialized = 'incremental',
    unique_key = ['line', 'window_start'],
    incremental_strategy = ('merge' if target.type == 'bigquery' else 'delete+insert'),
    partition_by = ({'field': 'window_start', 'data_type': 'timestamp', 'granularity': 'day'} if target.type == 'bigquery' else none),
    cluster_by = (['line'] if target.type == 'bigquery' else none),
  )
}}

with observations as (
  select line, vehicle_id, speed_kmh, captured_at, loaded_at, {{ floor_10min('gps_time_utc') }} as window_start
  from {{ ref('brt_gps') }}
  where is_valid_position and not is_stale and not is_out_of_service and speed_kmh is not null
),

{% if is_incremental() %}
touched as (
  select distinct line, window_start
  from observations
  where loaded_at > (select coalesce(max(last_loaded_at), cast('1970-01-01' as {{ type_timestamp_utc() }})) from {{ this }})
),
scoped as (
  select o.*
  from observations o
  join touched t on o.line = t.line and o.window_start = t.window_start
)
{% else %}
scoped as (select * from observations)
{% endif %}

select
  line,
  window_start,
  {{ utc_to_sao_paulo('window_start') }}                        as window_start_local,
  count(distinct vehicle_id)                                    as vehicles_in_service,
  avg(speed_kmh)                                                as avg_speed_kmh,
  {{ p90('speed_kmh') }}                                        as p90_speed_kmh,
  avg(case when speed_kmh > 0 then 1.0 else 0.0 end)            as share_moving,
  count(*)                                                      as observations,
  max(captured_at)                                              as last_captured_at,
  max(loaded_at)                                                as last_loaded_at
from scoped
group by line, window_start
