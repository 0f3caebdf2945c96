{#- dbt's is_incremental(), plus an offline switch: with `--vars '{rota_offline_incremental: true|false}'`
    it answers without asking the warehouse, so the BigQuery SQL of both branches compiles with no
    connection (tests run where BigQuery cannot be reached). Unset, it is dbt's own. -#}
{% macro is_incremental() %}
  {% set offline = var('rota_offline_incremental', none) %}
  {% if offline is not none %}{{ return(offline in [true, 'true', 'True']) }}{% endif %}
  {{ return(dbt.is_incremental()) }}
{% endmacro %}
