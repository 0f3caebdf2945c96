{#- Small adapter-dispatched helpers: the same models build on DuckDB (default) and BigQuery.
    Every cast is a safe one: a value the feed can send (blank, "NaN", "Infinity", year 0 or
    year 10000, a word) becomes null, never an error that would stop the build. -#}

{#- Text to a trimmed value, blanks to null. -#}
{% macro blank_to_null(expr) -%}
  nullif(trim({{ expr }}), '')
{%- endmacro %}

{#- A SQL string literal (BigQuery strings treat a backslash as an escape; DuckDB's do not). -#}
{% macro sql_string(value) -%}{{ return(adapter.dispatch('sql_string', 'rota_brt')(value)) }}{%- endmacro %}
{% macro duckdb__sql_string(value) -%}'{{ value | string | replace("'", "''") }}'{%- endmacro %}
{% macro bigquery__sql_string(value) -%}'{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'{%- endmacro %}

{#- Text to a finite double; NaN and infinities (which both engines parse) to null. -#}
{% macro to_double(expr) -%}{{ return(adapter.dispatch('to_double', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__to_double(expr) -%}
  case when isfinite(try_cast({{ blank_to_null(expr) }} as double)) then try_cast({{ blank_to_null(expr) }} as double) end
{%- endmacro %}
{% macro bigquery__to_double(expr) -%}
  case when not is_nan(safe_cast({{ blank_to_null(expr) }} as float64)) and not is_inf(safe_cast({{ blank_to_null(expr) }} as float64))
       then safe_cast({{ blank_to_null(expr) }} as float64) end
{%- endmacro %}

{#- A finite double to an integer when it is whole (integers may arrive as "12", "12.0" or "1.2E1"). -#}
{% macro double_to_int(expr) -%}{{ return(adapter.dispatch('double_to_int', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__double_to_int(expr) -%}
  case when {{ expr }} = floor({{ expr }}) and abs({{ expr }}) < 9e15 then cast({{ expr }} as bigint) end
{%- endmacro %}
{% macro bigquery__double_to_int(expr) -%}
  case when {{ expr }} = floor({{ expr }}) and abs({{ expr }}) < 9e15 then cast({{ expr }} as int64) end
{%- endmacro %}

{% macro to_int(expr) -%}{{ double_to_int(to_double(expr)) }}{%- endmacro %}

{#- Epoch milliseconds to a UTC timestamp; outside years 1..9999 (BigQuery's TIMESTAMP range) null on
    both engines, so they agree. DuckDB: a TIMESTAMP holding UTC wall time. -#}
{% macro epoch_ms_to_utc(expr) -%}{{ return(adapter.dispatch('epoch_ms_to_utc', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__epoch_ms_to_utc(expr) -%}
  case when ({{ expr }}) between -62135596800000 and 253402300799999 then make_timestamp(({{ expr }}) * 1000) end
{%- endmacro %}
{% macro bigquery__epoch_ms_to_utc(expr) -%}
  case when ({{ expr }}) between -62135596800000 and 253402300799999 then safe.timestamp_millis({{ expr }}) end
{%- endmacro %}

{#- A UTC timestamp to America/Sao_Paulo local time (a timestamp without zone / a DATETIME). -#}
{% macro utc_to_sao_paulo(expr) -%}{{ return(adapter.dispatch('utc_to_sao_paulo', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__utc_to_sao_paulo(expr) -%}timezone('America/Sao_Paulo', timezone('UTC', {{ expr }})){%- endmacro %}
{% macro bigquery__utc_to_sao_paulo(expr) -%}datetime({{ expr }}, 'America/Sao_Paulo'){%- endmacro %}

{#- The America/Sao_Paulo date of a UTC timestamp (the lake's `dt`). -#}
{% macro sao_paulo_date(expr) -%}{{ return(adapter.dispatch('sao_paulo_date', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__sao_paulo_date(expr) -%}cast(timezone('America/Sao_Paulo', timezone('UTC', {{ expr }})) as date){%- endmacro %}
{% macro bigquery__sao_paulo_date(expr) -%}date({{ expr }}, 'America/Sao_Paulo'){%- endmacro %}

{#- ISO 8601 text with Z (as written by Rota) to a UTC timestamp. -#}
{% macro iso_to_utc(expr) -%}{{ return(adapter.dispatch('iso_to_utc', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__iso_to_utc(expr) -%}timezone('UTC', try_cast({{ expr }} as timestamptz)){%- endmacro %}
{% macro bigquery__iso_to_utc(expr) -%}safe_cast({{ expr }} as timestamp){%- endmacro %}

{#- A UTC timestamp literal from Jinja (a datetime or an ISO string). -#}
{% macro utc_literal(value) -%}{{ return(adapter.dispatch('utc_literal', 'rota_brt')(value)) }}{%- endmacro %}
{% macro duckdb__utc_literal(value) -%}cast({{ sql_string(rota_brt.utc_text(value)) }} as timestamp){%- endmacro %}
{% macro bigquery__utc_literal(value) -%}timestamp({{ sql_string(rota_brt.utc_text(value)) }}){%- endmacro %}
{% macro utc_text(value) -%}
  {%- if value is string -%}{{ value | replace('T', ' ') | replace('Z', '') }}{%- else -%}{{ value.strftime('%Y-%m-%d %H:%M:%S.%f') }}{%- endif -%}
{%- endmacro %}

{#- This build's time, the same for every model and test of one dbt invocation. -#}
{% macro build_time() -%}{{ utc_literal(run_started_at) }}{%- endmacro %}

{% macro add_minutes(expr, minutes) -%}{{ return(adapter.dispatch('add_minutes', 'rota_brt')(expr, minutes)) }}{%- endmacro %}
{% macro duckdb__add_minutes(expr, minutes) -%}({{ expr }} + to_minutes(cast({{ minutes }} as bigint))){%- endmacro %}
{% macro bigquery__add_minutes(expr, minutes) -%}timestamp_add({{ expr }}, interval {{ minutes }} minute){%- endmacro %}

{#- Milliseconds between two UTC timestamps. -#}
{% macro ms_between(later, earlier) -%}{{ return(adapter.dispatch('ms_between', 'rota_brt')(later, earlier)) }}{%- endmacro %}
{% macro duckdb__ms_between(later, earlier) -%}(epoch_ms({{ later }}) - epoch_ms({{ earlier }})){%- endmacro %}
{% macro bigquery__ms_between(later, earlier) -%}timestamp_diff({{ later }}, {{ earlier }}, millisecond){%- endmacro %}

{% macro floor_10min(expr) -%}{{ return(adapter.dispatch('floor_10min', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__floor_10min(expr) -%}time_bucket(interval '10 minutes', {{ expr }}){%- endmacro %}
{% macro bigquery__floor_10min(expr) -%}timestamp_seconds(div(unix_seconds({{ expr }}), 600) * 600){%- endmacro %}

{% macro p90(expr) -%}{{ return(adapter.dispatch('p90', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__p90(expr) -%}quantile_cont({{ expr }}, 0.9){%- endmacro %}
{% macro bigquery__p90(expr) -%}approx_quantiles({{ expr }}, 100)[offset(90)]{%- endmacro %}

{% macro regexp_contains(expr, pattern) -%}{{ return(adapter.dispatch('regexp_contains', 'rota_brt')(expr, pattern)) }}{%- endmacro %}
{% macro duckdb__regexp_contains(expr, pattern) -%}regexp_matches({{ expr }}, {{ sql_string(pattern) }}){%- endmacro %}
{% macro bigquery__regexp_contains(expr, pattern) -%}regexp_contains({{ expr }}, {{ sql_string(pattern) }}){%- endmacro %}

{#- The bronze file a row came from, as the engine names it (DuckDB read_csv filename=true / BigQuery pseudo-column). -#}
{% macro bronze_file_column() -%}{{ return(adapter.dispatch('bronze_file_column', 'rota_brt')()) }}{%- endmacro %}
{% macro duckdb__bronze_file_column() -%}filename{%- endmacro %}
{% macro bigquery__bronze_file_column() -%}_FILE_NAME{%- endmacro %}

{#- `…/bronze/brt_gps/dt=D/x.csv` -> `dt=D/x.csv`: the id the registry and the manifest use, whatever the engine's path. -#}
{% macro bronze_file_id(expr) -%}regexp_extract({{ expr }}, 'dt=[^/]+/[^/]+$'){%- endmacro %}

{% macro now_utc() -%}{{ return(adapter.dispatch('now_utc', 'rota_brt')()) }}{%- endmacro %}
{% macro duckdb__now_utc() -%}timezone('UTC', now()){%- endmacro %}
{% macro bigquery__now_utc() -%}current_timestamp(){%- endmacro %}

{#- A literal list for IN: ('a', 'b'). -#}
{% macro sql_list(values) -%}
  ({%- for v in values -%}{{ sql_string(v) }}{{ ', ' if not loop.last }}{%- endfor -%})
{%- endmacro %}
