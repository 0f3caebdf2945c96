{#-
  What one build reads. The bronze registry lists the published CSVs; the manifest
  (silver.brt_gps_files_processed) lists those a build has already read. The difference, at most
  `max_files_per_build` files oldest first, is this build's batch: brt_gps_batch reads exactly those
  files, with a literal filter on `dt` (hive partition pruning) and on the file name (DuckDB skips
  the other files; BigQuery skips files that fail a filter on _FILE_NAME), so a build reads one
  window's file whatever the size of the lake, and nothing when nothing is new.

  Offline (no warehouse to ask), `--vars '{rota_offline: {pending_files: [{file: .., dt: ..}], batch_bounds: {...}}}'`
  answers instead.
-#}

{% macro brt_offline(key) %}
  {%- set offline = var('rota_offline', {}) or {} -%}
  {{ return(offline.get(key)) }}
{% endmacro %}

{#- [{file: 'dt=D/x.csv', dt: 'D'}, ...] -#}
{% macro brt_pending_files() %}
  {%- set registry = source('bronze', 'brt_gps_files') -%}
  {%- set offline = rota_brt.brt_offline('pending_files') -%}
  {%- if offline is not none -%}{{ return(offline) }}{%- endif -%}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {#- A full refresh rebuilds silver from every registered file (the manifest is rebuilt with it). -#}
  {%- set processed = none if flags.FULL_REFRESH else adapter.get_relation(database=this.database, schema=this.schema, identifier='brt_gps_files_processed') -%}
  {%- set query -%}
    select r.file, r.dt
    from {{ registry }} as r
    {%- if processed is not none %}
    where not exists (select 1 from {{ processed }} as p where p.file = r.file)
    {%- endif %}
    order by r.dt, r.file
    limit {{ var('max_files_per_build') }}
  {%- endset -%}
  {%- set files = [] -%}
  {%- for row in run_query(query).rows -%}{%- do files.append({'file': row[0], 'dt': row[1]}) -%}{%- endfor -%}
  {%- do log('brt_gps_batch: ' ~ files | length ~ ' new bronze file(s)' ~ (' (the first ' ~ var('max_files_per_build') ~ '; the rest in the next build)' if files | length >= var('max_files_per_build') else ''), info=true) -%}
  {{ return(files) }}
{% endmacro %}

{#- The WHERE clause of brt_gps_batch over stg_brt_gps. -#}
{% macro brt_pending_filter(files) %}
  {%- if files | length == 0 -%}
    {#- An impossible partition: nothing is read, and BigQuery's partition-filter requirement is met. -#}
    {{ return("dt in ('0000-00-00') and false") }}
  {%- endif -%}
  {%- set root = env_var('ROTA_BRONZE_URI', '') -%}
  {%- set root = root[:-1] if root.endswith('/') else root -%}
  {%- set uris = [] -%}{%- set dts = [] -%}
  {%- for f in files -%}
    {%- do uris.append(root ~ '/' ~ f['file']) -%}
    {%- if f['dt'] not in dts -%}{%- do dts.append(f['dt']) -%}{%- endif -%}
  {%- endfor -%}
  {{ return('dt in ' ~ rota_brt.sql_list(dts) ~ ' and source_uri in ' ~ rota_brt.sql_list(uris)) }}
{% endmacro %}

{#-
  {min_captured_at, max_captured_at} of this build's batch (ISO text), or none when it is empty. Gold
  recomputes only the windows these captures can change, read from silver between literal bounds.
-#}
{% macro brt_batch_bounds() %}
  {%- set batch = ref('brt_gps_batch') -%}
  {%- set offline = rota_brt.brt_offline('batch_bounds') -%}
  {%- if offline is not none -%}{{ return(offline or none) }}{%- endif -%}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set row = run_query('select cast(min(captured_at) as string), cast(max(captured_at) as string) from ' ~ batch).rows[0] -%}
  {%- if row[0] is none -%}{{ return(none) }}{%- endif -%}
  {{ return({'min_captured_at': row[0], 'max_captured_at': row[1]}) }}
{% endmacro %}
