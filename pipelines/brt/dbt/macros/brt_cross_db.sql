{#- Small adapter-dispatched helpers: the same models build on DuckDB (default) and BigQuery. -#}

{#- Text to a trimmed value, blanks to null. -#}
{% macro blank_to_null(expr) -%}
  nullif(trim({{ expr }}), '')
{%- endmacro %}

{% macro to_double(expr) -%}{{ return(adapter.dispatch('to_double', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__to_double(expr) -%}try_cast({{ blank_to_null(expr) }} as double){%- endmacro %}
{% macro bigquery__to_double(expr) -%}safe_cast({{ blank_to_null(expr) }} as float64){%- endmacro %}

{#- Integers may arrive as "12", "12.0" or "1.2E1": go through double, keep only whole values. -#}
{% macro to_int(expr) -%}{{ return(adapter.dispatch('to_int', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__to_int(expr) -%}
  case when try_cast({{ blank_to_null(expr) }} as double) = floor(try_cast({{ blank_to_null(expr) }} as double))
            and abs(try_cast({{ blank_to_null(expr) }} as double)) < 9e15
       then cast(try_cast({{ blank_to_null(expr) }} as double) as bigint) end
{%- endmacro %}
{% macro bigquery__to_int(expr) -%}
  case when safe_cast({{ blank_to_null(expr) }} as float64) = floor(safe_cast({{ blank_to_null(expr) }} as float64))
            and abs(safe_cast({{ blank_to_null(expr) }} as float64)) < 9e15
       then cast(safe_cast({{ blank_to_null(expr) }} as float64) as int64) end
{%- endmacro %}

{#- Epoch milliseconds (an integer) to a UTC timestamp. DuckDB: a TIMESTAMP holding UTC wall time. -#}
{% macro epoch_ms_to_utc(expr) -%}{{ return(adapter.dispatch('epoch_ms_to_utc', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__epoch_ms_to_utc(expr) -%}make_timestamp(({{ expr }}) * 1000){%- endmacro %}
{% macro bigquery__epoch_ms_to_utc(expr) -%}timestamp_millis({{ expr }}){%- endmacro %}

{#- A UTC timestamp to America/Sao_Paulo local time (a timestamp without zone / a DATETIME). -#}
{% macro utc_to_sao_paulo(expr) -%}{{ return(adapter.dispatch('utc_to_sao_paulo', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__utc_to_sao_paulo(expr) -%}timezone('America/Sao_Paulo', timezone('UTC', {{ expr }})){%- endmacro %}
{% macro bigquery__utc_to_sao_paulo(expr) -%}datetime({{ expr }}, 'America/Sao_Paulo'){%- endmacro %}

{#- ISO 8601 text with Z (as written by Rota) to a UTC timestamp. -#}
{% macro iso_to_utc(expr) -%}{{ return(adapter.dispatch('iso_to_utc', 'rota_brt')(expr)) }}{%- endmacro %}
{% macro duckdb__iso_to_utc(expr) -%}timezone('UTC', try_cast({{ expr }} as timestamptz)){%- endmacro %}
{% macro bigquery__iso_to_utc(expr) -%}safe_cast({{ expr }} as timestamp){%- endmacro %}

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

{#- The bronze file a row came from (DuckDB read_csv filename=true / BigQuery pseudo-column). -#}
{% macro bronze_file_column() -%}{{ return(adapter.dispatch('bronze_file_column', 'rota_brt')()) }}{%- endmacro %}
{% macro duckdb__bronze_file_column() -%}filename{%- endmacro %}
{% macro bigquery__bronze_file_column() -%}_FILE_NAME{%- endmacro %}

{% macro type_timestamp_utc() -%}{{ return(adapter.dispatch('type_timestamp_utc', 'rota_brt')()) }}{%- endmacro %}
{% macro duckdb__type_timestamp_utc() -%}timestamp{%- endmacro %}
{% macro bigquery__type_timestamp_utc() -%}timestamp{%- endmacro %}

{% macro now_utc() -%}{{ return(adapter.dispatch('now_utc', 'rota_brt')()) }}{%- endmacro %}
{% macro duckdb__now_utc() -%}timezone('UTC', now()){%- endmacro %}
{% macro bigquery__now_utc() -%}current_timestamp(){%- endmacro %}
