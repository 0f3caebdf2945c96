{#-
  silver.stg_brt_gps: the view over the bronze external table with every transformation: safe types,
  time zones, anomaly flags, and duplicates removed within each bronze file (the 22-47 % of rows that
  repeat the previous capture). Silver (brt_gps) removes the rest across files as it merges.

  It stays cheap to query with a filter on `dt` and `source_uri`: both window functions below are
  partitioned by them, so the engines push such filters down to the external table and read only
  the matching files (BigQuery also requires a `dt` filter). Querying it without one reads the lake.
-#}
{{ config(materialized = 'view') }}

{%- set b = var('rio_bounds') %}

with source_rows as (
  select *, {{ bronze_file_column() }} as source_uri
  from {{ source('bronze', 'brt_gps') }}
),

numbers as (
  select *, {{ to_double('datahora') }} as datahora_number, {{ to_double('direcao') }} as direcao_number
  from source_rows
),

typed as (
  select
    {{ blank_to_null('codigo') }}                                   as vehicle_id,
    {{ blank_to_null('placa') }}                                    as plate,
    {{ blank_to_null('linha') }}                                    as line,
    {{ to_double('latitude') }}                                     as latitude,
    {{ to_double('longitude') }}                                    as longitude,
    {{ epoch_ms_to_utc(double_to_int('datahora_number')) }}         as gps_time_utc,
    {{ to_double('velocidade') }}                                   as speed_kmh,
    {{ blank_to_null('id_migracao_trajeto') }}                      as route_id,
    case lower({{ blank_to_null('sentido') }}) when 'ida' then 'ida' when 'volta' then 'volta' end as direction,
    {{ blank_to_null('trajeto') }}                                  as route_name,
    {{ to_double('hodometro') }}                                    as odometer,
    case when {{ double_to_int('direcao_number') }} between 0 and 359 then {{ double_to_int('direcao_number') }} end as heading_deg,
    case {{ blank_to_null('ignicao') }} when '1' then true when '0' then false end as ignition,
    {{ to_int('capacidade_pe_veiculo') }}                           as capacity_standing,
    {{ to_int('capacidade_sentado_veiculo') }}                      as capacity_seated,
    {{ blank_to_null('extra_fields') }}                             as extra_fields,
    capture_id,
    {{ iso_to_utc('captured_at') }}                                 as captured_at,
    dt,
    source_uri,
    {{ bronze_file_id('source_uri') }}                              as source_file
  from numbers
),

flagged as (
  select
    *,
    (vehicle_id is not null and gps_time_utc is not null and captured_at is not null)        as is_keyable,
    coalesce(latitude between {{ b.lat_min }} and {{ b.lat_max }} and longitude between {{ b.lon_min }} and {{ b.lon_max }}
             and not (latitude = 0 and longitude = 0), false)                               as is_valid_position,
    coalesce({{ ms_between('captured_at', 'gps_time_utc') }} > {{ var('stale_after_minutes') }} * 60000, false) as is_stale,
    coalesce({{ ms_between('gps_time_utc', 'captured_at') }} > {{ var('future_tolerance_minutes') }} * 60000, false) as is_future_time,
    coalesce(gps_time_utc < {{ utc_literal(var('min_plausible_gps_time')) }}, false)          as is_ancient_time,
    coalesce(speed_kmh < 0, false)                                                           as is_speed_negative,
    coalesce(speed_kmh > {{ var('max_plausible_speed_kmh') }}, false)                        as is_speed_implausible,
    heading_deg is null                                                                      as is_heading_invalid,
    coalesce({{ regexp_contains('vehicle_id', var('test_vehicle_pattern')) }}, false)        as is_test_vehicle,
    (line is null or line = '0')                                                             as is_out_of_service
  from typed
),

ranked as (
  select
    *,
    count(*) over (partition by dt, source_uri, capture_id)                                  as capture_rows,
    sum(case when is_keyable then 0 else 1 end) over (partition by dt, source_uri, capture_id) as capture_unkeyable_rows,
    row_number() over (partition by dt, source_uri, vehicle_id, gps_time_utc order by captured_at, capture_id) as rank_in_file
  from flagged
)

select
  vehicle_id,
  plate,
  line,
  latitude,
  longitude,
  gps_time_utc,
  {{ utc_to_sao_paulo('gps_time_utc') }}                        as gps_time_local,
  cast(gps_time_utc as date)                                    as gps_date,
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
  is_keyable,
  is_valid_position,
  is_stale,
  is_future_time,
  is_ancient_time,
  is_speed_negative,
  is_speed_implausible,
  is_heading_invalid,
  is_test_vehicle,
  is_out_of_service,
  (is_valid_position and not is_stale and not is_future_time and not is_ancient_time and not is_test_vehicle) as is_usable,
  capture_id,
  captured_at,
  {{ sao_paulo_date('captured_at') }}                           as captured_date,
  capture_rows,
  capture_unkeyable_rows,
  dt,
  source_uri,
  source_file
from ranked
-- one row per (vehicle, GPS time) and file; rows that cannot be keyed are all kept, for the record
where rank_in_file = 1 or not is_keyable
