{#-
  silver.brt_gps_batch: the staging view's rows for the bronze files this build reads (registered,
  not yet in silver.brt_gps_files_processed; see macros/incremental_batch.sql). Rebuilt by every
  build, empty when nothing is new. Everything downstream reads this small table rather than the
  lake, so one build reads each new file once.
-#}
{{ config(materialized = 'table') }}

{%- set pending = brt_pending_files() %}

select *
from {{ ref('stg_brt_gps') }}
where {{ brt_pending_filter(pending) }}
