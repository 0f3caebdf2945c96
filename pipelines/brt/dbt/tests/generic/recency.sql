{#- Freshness: the newest value of a UTC timestamp column is at most `max_hours` old. -#}
{% test recency(model, column_name, max_hours) %}
select max_value
from (select max({{ column_name }}) as max_value from {{ model }}) newest
where max_value is null
   or {{ rota_brt.ms_between(rota_brt.now_utc(), 'max_value') }} > {{ max_hours }} * 3600000
{% endtest %}
