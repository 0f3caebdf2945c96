{#-
  silver.brt_captures: one row per capture (an API call): when, how many rows it carried, how many
  could not be keyed. The volume checks and gold's completeness read it. Insert-only MERGE on
  capture_id (a capture replayed into another file changes nothing).
-#}
{{
  config(
    materialized = 'incremental',
    unique_key = 'capture_id',
    incremental_strategy = 'merge',
    meta = {'merge_insert_only': true},
    on_schema_change = 'append_new_columns',
  )
}}

select
  capture_id,
  min(captured_at)              as captured_at,
  min(captured_date)            as captured_date,
  max(capture_rows)             as rows_received,
  max(capture_unkeyable_rows)   as rows_unkeyable,
  min(source_file)              as source_file,
  {{ build_time() }}            as loaded_at
from {{ ref('brt_gps_batch') }}
where capture_id is not null and captured_at is not null
group by capture_id
