{#- Helpers of the project's generic tests (tests/generic/). -#}

{% macro brt_test_partition_filter(partition_column, partitions_from, data_type='date') %}
  {%- if partition_column is none or partitions_from is none or not execute -%}{{ return('true') }}{%- endif -%}
  {%- set values = run_query('select distinct cast(' ~ partition_column ~ ' as string) from ' ~ partitions_from ~ ' where ' ~ partition_column ~ ' is not null').columns[0].values() | list -%}
  {%- if values | length == 0 -%}{{ return('false') }}{%- endif -%}
  {%- if values | length > 500 -%}{{ return('true') }}{%- endif -%}
  {%- set literals = [] -%}
  {%- for v in values -%}{%- do literals.append('cast(' ~ rota_brt.sql_string(v) ~ ' as ' ~ data_type ~ ')') -%}{%- endfor -%}
  {{ return(partition_column ~ ' in (' ~ literals | join(', ') ~ ')') }}
{% endmacro %}

{% macro median(expr) -%}{{ return(adapter.dispatch('median', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__median(expr) -%}median({{ expr }}){%- endmacro %}
{% macro bigquery__median(expr) -%}approx_quantiles({{ expr }}, 2)[offset(1)]{%- endmacro %}
