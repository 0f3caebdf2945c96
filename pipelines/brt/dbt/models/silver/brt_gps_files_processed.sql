{#-
  silver.brt_gps_files_processed: the manifest of bronze files a build has read, every file of the
  batch, including those whose rows were all duplicates (a replay), so no file is read twice.
  Written after silver and brt_captures (a failed build leaves its files unmarked: the next build
  reads them again, which the MERGEs make harmless).
-#}
{{
  config(
    materialized = 'incremental',
    unique_key = 'file',
    incremental_strategy = 'merge',
    meta = {'merge_insert_only': true},
    on_schema_change = 'append_new_columns',
  )
}}
-- depends_on: {{ ref('brt_gps') }}
-- depends_on: {{ ref('brt_captures') }}

select
  source_file                                           as file,
  min(dt)                                               as dt,
  count(*)                                              as signals,
  sum(case when is_keyable then 0 else 1 end)           as rows_unkeyable,
  min(captured_at)                                      as first_captured_at,
  max(captured_at)                                      as last_captured_at,
  {{ build_time() }}                                    as processed_at
from {{ ref('brt_gps_batch') }}
where source_file is not null
group by source_file
