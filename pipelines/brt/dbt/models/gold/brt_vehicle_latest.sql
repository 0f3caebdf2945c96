{#- Latest valid, non-stale position of each vehicle. A full rebuild: one pass over silver is cheap
    (about 1 s for a day of captures on DuckDB) and avoids keeping a merge key in sync. -#}
{{ config(materialized = 'table') }}

with ranked as (
  select
    vehicle_id, line, latitude, longitude, speed_kmh, gps_time_utc, gps_time_local,
    row_number() over (partition by vehicle_id order by gps_time_utc desc, captured_at desc) as recency
  from {{ ref('brt_gps') }}
  where is_valid_position and not is_stale
)

select vehicle_id, line, latitude, longitude, speed_kmh, gps_time_utc, gps_time_local
from ranked
where recency = 1
