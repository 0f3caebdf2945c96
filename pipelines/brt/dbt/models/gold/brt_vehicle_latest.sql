{#-
  gold.brt_vehicle_latest: the latest usable position of each vehicle (valid position, not stale,
  not in the future, not absurdly old, not a test vehicle). Incremental (MERGE on vehicle_id): the
  candidates are this build's batch and the current row of the vehicles it holds, so a build never
  reads silver. A speed flagged as negative or implausible is shown as null.
-#}
{{
  config(
    materialized = 'incremental',
    unique_key = 'vehicle_id',
    incremental_strategy = 'merge',
    on_schema_change = 'append_new_columns',
  )
}}
-- depends_on: {{ ref('brt_gps') }}

with batch as (
  select
    vehicle_id, line, latitude, longitude,
    case when is_speed_negative or is_speed_implausible then null else speed_kmh end as speed_kmh,
    gps_time_utc, gps_time_local, captured_at
  from {{ ref('brt_gps_batch') }}
  where is_keyable and is_usable
),

candidates as (
  select * from batch
  {%- if is_incremental() %}
  union all
  select vehicle_id, line, latitude, longitude, speed_kmh, gps_time_utc, gps_time_local, captured_at
  from {{ this }}
  where vehicle_id in (select vehicle_id from batch)
  {%- endif %}
),

ranked as (
  select *, row_number() over (partition by vehicle_id order by gps_time_utc desc, captured_at) as recency
  from candidates
)

select vehicle_id, line, latitude, longitude, speed_kmh, gps_time_utc, gps_time_local, captured_at, {{ build_time() }} as built_at
from ranked
where recency = 1
