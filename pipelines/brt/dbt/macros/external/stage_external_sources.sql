{#-
  `dbt run-operation stage_external_sources [--args "select: bronze.brt_gps"] [--vars "ext_full_refresh: true"]`

  The shape of dbt_external_tables' operation of the same name (that package cannot be downloaded
  here): every source table with an `external.location` is (re)created from its `external:`
  properties. DuckDB: a view over read_csv (hive partitions from the path, the file name as a
  column); BigQuery: CREATE OR REPLACE EXTERNAL TABLE ... WITH PARTITION COLUMNS. Idempotent, so the
  flow runs it whenever the definitions or the lake location change. To use the package instead,
  see docs/brt.md ("Swapping in dbt_external_tables").
-#}
{% macro stage_external_sources(select=none) %}
  {%- set nodes = [] -%}
  {%- for node in (graph.sources.values() if graph.sources else []) -%}
    {%- if node.external and node.external.location -%}
      {%- if select is none -%}
        {%- do nodes.append(node) -%}
      {%- else -%}
        {%- for wanted in select.split(' ') -%}
          {%- if wanted == node.source_name or wanted == node.source_name ~ '.' ~ node.name -%}{%- do nodes.append(node) -%}{%- endif -%}
        {%- endfor -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {%- for node in nodes -%}
    {%- set label = loop.index ~ ' of ' ~ loop.length -%}
    {%- do log(label ~ ' START external source ' ~ node.schema ~ '.' ~ node.identifier, info=true) -%}
    {%- for statement_sql in rota_brt.external_build_plan(node) -%}
      {%- do log(label ~ ' (' ~ loop.index ~ ') ' ~ (statement_sql | trim)[:70] ~ '...', info=true) -%}
      {%- call statement('stage_external', fetch_result=false, auto_begin=false) -%}{{ statement_sql }}{%- endcall -%}
    {%- endfor -%}
    {%- do log(label ~ ' OK', info=true) -%}
  {%- endfor -%}
  {%- if execute and adapter.type() == 'duckdb' -%}{%- do adapter.commit() -%}{%- endif -%}
{% endmacro %}

{% macro external_build_plan(node) %}{{ return(adapter.dispatch('external_build_plan', 'rota_brt')(node)) }}{% endmacro %}

{#- The external table's column list from the source's `columns:` (data_type required). -#}
{% macro external_columns(node) %}
  {%- set cols = [] -%}
  {%- for column in node.columns.values() -%}
    {%- if not column.data_type -%}{{ exceptions.raise_compiler_error('external source ' ~ node.name ~ ': column ' ~ column.name ~ ' needs a data_type') }}{%- endif -%}
    {%- do cols.append(column) -%}
  {%- endfor -%}
  {{ return(cols) }}
{% endmacro %}

{#- BigQuery: as dbt_external_tables' bigquery__create_external_table. -#}
{% macro bigquery__external_build_plan(node) %}
  {%- set external = node.external -%}
  {%- set options = external.options or {} -%}
  {%- set partitions = external.partitions or [] -%}
  {%- set partition_names = partitions | map(attribute='name') | list -%}
  {%- set create -%}
    create or replace external table {{ source(node.source_name, node.name) }} (
      {%- for column in rota_brt.external_columns(node) if column.name not in partition_names %}
      {{ column.name }} {{ column.data_type }}{{ ',' if not loop.last }}
      {%- endfor %}
    )
    {%- if options.get('hive_partition_uri_prefix') %}
    with partition columns (
      {%- for p in partitions %}
      {{ p.name }} {{ p.data_type }}{{ ',' if not loop.last }}
      {%- endfor %}
    )
    {%- endif %}
    options (
      uris = [{{ rota_brt.sql_string(external.location) }}]
      {%- for key, value in options.items() if key != 'uris' %},
      {{ key }} = {% if value is string %}{{ rota_brt.sql_string(value) }}{% elif value is sameas true %}true{% elif value is sameas false %}false{% else %}{{ value }}{% endif %}
      {%- endfor %}
    )
  {%- endset -%}
  {{ return(['create schema if not exists ' ~ adapter.quote(node.database) ~ '.' ~ adapter.quote(node.schema), create]) }}
{% endmacro %}

{#-
  DuckDB: a view over read_csv. With partitions, `location` is the folder holding the `name=value/`
  folders (BigQuery's hive_partition_uri_prefix) and the view reads `<location>/*/<files>`; the
  partition values and the file name become columns. Before the first file exists (read_csv fails
  on a pattern that matches nothing) the view is an empty relation with the same columns; the flow
  stages again when the first file arrives.
-#}
{% macro duckdb__external_build_plan(node) %}
  {%- set external = node.external -%}
  {%- set options = external.options or {} -%}
  {%- set partitions = external.partitions or [] -%}
  {%- set partition_names = partitions | map(attribute='name') | list -%}
  {%- set location = external.location | replace('/*', '') -%}
  {%- set columns = rota_brt.external_columns(node) | rejectattr('name', 'in', partition_names) | list -%}
  {%- set pattern = location ~ ('/*' * (partitions | length)) ~ ('/*.csv' if partitions else '') -%}
  {%- set found = 0 -%}
  {%- if execute -%}
    {%- set found = run_query("select count(*) from glob(" ~ rota_brt.sql_string(pattern) ~ ")").columns[0].values()[0] -%}
  {%- endif -%}
  {%- set relation = source(node.source_name, node.name) -%}
  {%- set body -%}
    {%- if found > 0 -%}
    select * from read_csv({{ rota_brt.sql_string(pattern) }},
      header = true, delim = ',', quote = '"', escape = '"', auto_detect = false,
      columns = { {%- for c in columns -%}{{ rota_brt.sql_string(c.name) }}: 'VARCHAR'{{ ', ' if not loop.last }}{%- endfor -%} }
      {%- if partitions %}, hive_partitioning = true, hive_types_autocast = false, filename = true{% endif %})
    {%- else -%}
    select {% for c in columns %}cast(null as varchar) as {{ c.name }}, {% endfor -%}
      {%- for p in partitions %}cast(null as varchar) as {{ p.name }}, {% endfor %}cast(null as varchar) as filename
    where false
    {%- endif -%}
  {%- endset -%}
  {{ return(['create schema if not exists ' ~ relation.schema, 'create or replace view ' ~ relation ~ ' as ' ~ body]) }}
{% endmacro %}

{#- `dbt run-operation show_external_sources_ddl`: prints what stage_external_sources would run, runs
    nothing (used by the offline BigQuery check; no query is sent). -#}
{% macro show_external_sources_ddl(select=none) %}
  {%- for node in (graph.sources.values() if graph.sources else []) if node.external and node.external.location -%}
    {%- if select is none or select == node.source_name ~ '.' ~ node.name -%}
      {%- for statement_sql in rota_brt.external_build_plan(node) -%}{%- do print(statement_sql | trim ~ ';') -%}{%- endfor -%}
    {%- endif -%}
  {%- endfor -%}
{% endmacro %}
