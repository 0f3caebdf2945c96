{#-
  Every incremental write of the project is one MERGE keyed on the model's unique_key, on both
  engines, so overlapping or repeated builds can never insert a key twice (exactly once).

  Model configs read here (under `meta`):
  - merge_insert_only: true     only `when not matched then insert` (silver: the first capture of a
                                signal wins; a key seen again changes nothing)
  - merge_prune: {column, data_type}
                                BigQuery only: a literal filter on the target's partition column, from
                                the values the new rows hold (IN list, or a range when there are many),
                                so the MERGE reads only the partitions a key can be in, not the table.

  dbt-duckdb's and dbt-bigquery's own merge macros are replaced through dispatch (dbt_project.yml
  puts this project first for the `dbt` namespace), so DuckDB runs the very SQL that BigQuery gets.
-#}
{% macro brt_merge_sql(target, source, unique_key, dest_columns, predicates=[], insert_only=false) %}
  {%- set keys = [unique_key] if unique_key is string else unique_key -%}
  {%- set conditions = [] + (predicates or []) -%}
  {%- for key in keys -%}{%- do conditions.append('DBT_INTERNAL_SOURCE.' ~ key ~ ' = DBT_INTERNAL_DEST.' ~ key) -%}{%- endfor -%}
  {%- set columns = dest_columns | map(attribute='name') | list -%}
  {%- set quoted = [] -%}{%- for c in columns -%}{%- do quoted.append(adapter.quote(c)) -%}{%- endfor -%}
merge into {{ target }} as DBT_INTERNAL_DEST
using {{ source }} as DBT_INTERNAL_SOURCE
on ({{ conditions | join(') and (') }})
{%- if not insert_only %}
when matched then update set
  {%- for c in quoted if c | replace('"', '') | replace('`', '') not in keys %}
  {{ c }} = DBT_INTERNAL_SOURCE.{{ c }}{{ ',' if not loop.last }}
  {%- endfor %}
{%- endif %}
when not matched then insert ({{ quoted | join(', ') }})
values ({% for c in quoted %}DBT_INTERNAL_SOURCE.{{ c }}{{ ', ' if not loop.last }}{% endfor %})
{% endmacro %}

{#- The prune predicate: `DBT_INTERNAL_DEST.<col> in (<typed literals of the new rows' values>)`, or
    a literal range when there are many. Literals (not a subquery) are what BigQuery prunes on. -#}
{% macro brt_merge_prune_predicate(source, prune, values=none) %}
  {%- set column = prune['column'] -%}
  {%- set data_type = prune['data_type'] -%}
  {%- if values is none -%}
    {%- set values = [] -%}
    {%- if execute -%}
      {%- set result = run_query('select distinct cast(' ~ column ~ ' as string) as v from ' ~ source ~ ' where ' ~ column ~ ' is not null order by 1') -%}
      {%- set values = result.columns[0].values() | list -%}
    {%- endif -%}
  {%- endif -%}
  {%- if values | length == 0 -%}{{ return('false') }}{%- endif -%}
  {%- set literals = [] -%}
  {%- for v in values -%}{%- do literals.append('cast(' ~ rota_brt.sql_string(v) ~ ' as ' ~ data_type ~ ')') -%}{%- endfor -%}
  {%- if literals | length <= 200 -%}
    {{ return('DBT_INTERNAL_DEST.' ~ column ~ ' in (' ~ literals | join(', ') ~ ')') }}
  {%- endif -%}
  {{ return('DBT_INTERNAL_DEST.' ~ column ~ ' between ' ~ literals[0] ~ ' and ' ~ literals[-1]) }}
{% endmacro %}

{#- Project configs live under `meta` (dbt keeps custom top-level config keys for itself). -#}
{% macro brt_meta(key, default=none) %}
  {{ return((config.get('meta') or {}).get(key, default)) }}
{% endmacro %}

{% macro bigquery__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates=none) %}
  {%- set predicates = [] + (incremental_predicates or []) -%}
  {%- set prune = rota_brt.brt_meta('merge_prune') -%}
  {%- if prune -%}{%- do predicates.append(rota_brt.brt_merge_prune_predicate(source, prune)) -%}{%- endif -%}
  {{ return(rota_brt.brt_merge_sql(target, source, unique_key, dest_columns, predicates, rota_brt.brt_meta('merge_insert_only', false))) }}
{% endmacro %}

{% macro duckdb__get_incremental_merge_sql(args_dict) %}
  {{ return(rota_brt.brt_merge_sql(args_dict['target_relation'], args_dict['temp_relation'], args_dict['unique_key'], args_dict['dest_columns'],
       args_dict.get('incremental_predicates') or [], rota_brt.brt_meta('merge_insert_only', false))) }}
{% endmacro %}

{#- For the offline BigQuery check: `dbt run-operation brt_show_merge_sql --args '{merges: [...]}'` prints the
    MERGE each described model would run, with the prune values given (no query is sent). -#}
{% macro brt_show_merge_sql(merges) %}
  {%- for m in merges -%}
    {%- set dest_columns = [] -%}
    {%- for c in m['columns'] -%}{%- do dest_columns.append({'name': c}) -%}{%- endfor -%}
    {%- set predicates = [] -%}
    {%- if m.get('prune') -%}{%- do predicates.append(rota_brt.brt_merge_prune_predicate('`new_rows`', m['prune'], m.get('prune_values'))) -%}{%- endif -%}
    {%- do print(rota_brt.brt_merge_sql(m['target'], '`new_rows`', m['unique_key'], dest_columns, predicates, m.get('insert_only', false)) ~ ';') -%}
  {%- endfor -%}
{% endmacro %}
