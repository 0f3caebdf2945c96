{#-
  silver.brt_gps: one row per (vehicle, GPS time), typed and flagged. Incremental: a MERGE keyed on
  (vehicle_id, gps_time_utc) that only inserts (merge_insert_only), from this build's batch, so the
  first capture of a signal wins and a file, a window or a replay read twice never adds a row.
  Rows without a vehicle code or a readable GPS time cannot be keyed: they stay in bronze (counted
  per capture in brt_captures).
  BigQuery: partitioned by gps_date (a key lives in one partition, so the MERGE is pruned to the
  dates the batch holds), clustered by line and vehicle.
-#}
{{
  config(
    materialized = 'incremental',
    unique_key = ['vehicle_id', 'gps_time_utc'],
    incremental_strategy = 'merge',
    meta = {'merge_insert_only': true, 'merge_prune': ({'column': 'gps_date', 'data_type': 'date'} if target.type == 'bigquery' else none)},
    on_schema_change = 'append_new_columns',
    partition_by = ({'field': 'gps_date', 'data_type': 'date'} if target.type == 'bigquery' else none),
    cluster_by = (['line', 'vehicle_id'] if target.type == 'bigquery' else none),
  )
}}

with keyed as (
  select
    *,
    row_number() over (partition by vehicle_id, gps_time_utc order by captured_at, capture_id) as rank_in_batch
  from {{ ref('brt_gps_batch') }}
  where is_keyable
)

select
  vehicle_id,
  plate,
  line,
  latitude,
  longitude,
  gps_time_utc,
  gps_time_local,
  gps_date,
  speed_kmh,
  route_id,
  direction,
  route_name,
  odometer,
  heading_deg,
  ignition,
  capacity_standing,
  capacity_seated,
  extra_fields,
  is_valid_position,
  is_stale,
  is_future_time,
  is_ancient_time,
  is_speed_negative,
  is_speed_implausible,
  is_heading_invalid,
  is_test_vehicle,
  is_out_of_service,
  is_usable,
  capture_id,
  captured_at,
  captured_date,
  source_file,
  {{ build_time() }} as loaded_at
from keyed
where rank_in_batch = 1
