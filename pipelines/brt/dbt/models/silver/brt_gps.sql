{#-
  silver.brt_gps: one row per (vehicle, GPS time), typed and flagged.

  Incremental, insert-only: a run reads only bronze files it has not seen, and inserts only keys not
  already in the table, so the first capture of a signal wins and a file or a window processed twice
  never duplicates a row. Rows without a vehicle code or a readable GPS time cannot be keyed and stay
  in bronze only.
-#}
{{
  config(
    materialized = 'incremental',
    on_schema_change = 'append_new_columns',
    partition_by = ({'field': 'captured_date', 'data_type': 'date'} if target.type == 'bigquery' else none),
    cluster_by = (['line', 'vehicle_id'] if target.type == 'bigquery' else none),
  )
}}

with source_rows as (
  select *, {{ bronze_file_column() }} as source_file
  from {{ source('bronze', 'brt_gps') }}
  {% if is_incremental() %}
  where {{ bronze_file_column() }} not in (select distinct source_file from {{ this }})
  {% endif %}
),

typed as (
  select
    {{ blank_to_null('codigo') }}                                   as vehicle_id,
    {{ blank_to_null('placa') }}                                    as plate,
    {{ blank_to_null('linha') }}                                    as line,
    {{ to_double('latitude') }}                                     as latitude,
    {{ to_double('longitude') }}                                    as longitude,
    {{ epoch_ms_to_utc(to_int('datahora')) }}                       as gps_time_utc,
    {{ to_double('velocidade') }}                                   as speed_kmh,
    {{ blank_to_null('id_migracao_trajeto') }}                      as route_id,
    case lower({{ blank_to_null('sentido') }}) when 'ida' then 'ida' when 'volta' then 'volta' end as direction,
    {{ blank_to_null('trajeto') }}                                  as route_name,
    {{ to_double('hodometro') }}                                    as odometer,
    case when {{ to_int('direcao') }} between 0 and 359 then {{ to_int('direcao') }} end as heading_deg,
    case {{ blank_to_null('ignicao') }} when '1' then true when '0' then false end as ignition,
    {{ to_int('capacidade_pe_veiculo') }}                           as capacity_standing,
    {{ to_int('capacidade_sentado_veiculo') }}                      as capacity_seated,
    {{ blank_to_null('extra_fields') }}                             as extra_fields,
    capture_id,
    {{ iso_to_utc('captured_at') }}                                 as captured_at,
    source_file
  from source_rows
),

keyed as (
  select
    *,
    row_number() over (partition by vehicle_id, gps_time_utc order by captured_at, capture_id) as rank_in_key
  from typed
  where vehicle_id is not null and gps_time_utc is not null and captured_at is not null
)

select
  vehicle_id,
  plate,
  line,
  latitude,
  longitude,
  gps_time_utc,
  {{ utc_to_sao_paulo('gps_time_utc') }} as gps_time_local,
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
  (latitude between -23.10 and -22.70 and longitude between -43.80 and -43.10
     and not (latitude = 0 and longitude = 0)) is true                       as is_valid_position,
  ({{ ms_between('captured_at', 'gps_time_utc') }} > {{ var('stale_after_minutes') }} * 60000) as is_stale,
  (line is null or line = '0')                                               as is_out_of_service,
  capture_id,
  captured_at,
  cast(captured_at as date)                                                  as captured_date,
  source_file,
  {{ now_utc() }}                                                            as loaded_at
from keyed
where rank_in_key = 1
{% if is_incremental() %}
  and not exists (
    select 1 from {{ this }} as existing
    where existing.vehicle_id = keyed.vehicle_id and existing.gps_time_utc = keyed.gps_time_utc
  )
{% endif %}
