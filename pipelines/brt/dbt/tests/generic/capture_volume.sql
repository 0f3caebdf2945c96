{#- Data quality: captures of this build that carried fewer than `min_rows` rows, or less than half of
    the median of the captures of the day before them (the feed dropping part of the fleet). -#}
{% test capture_volume(model, min_rows, built_column) %}
with recent as (
  select rows_received
  from {{ model }}
  where captured_at >= (select {{ rota_brt.add_minutes('min(captured_at)', -1440) }} from {{ model }} where {{ built_column }} = {{ rota_brt.build_time() }})
),
typical as (
  select {{ rota_brt.median('rows_received') }} as median_rows from recent
)
select c.capture_id, c.captured_at, c.rows_received, t.median_rows
from {{ model }} c cross join typical t
where c.{{ built_column }} = {{ rota_brt.build_time() }}
  and (c.rows_received < {{ min_rows }} or c.rows_received < 0.5 * t.median_rows)
{% endtest %}
