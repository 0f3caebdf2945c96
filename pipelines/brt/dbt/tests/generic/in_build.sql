{#-
  Tests scoped to the rows the current build wrote (`built_column` = this build's time), so their
  cost follows the batch rather than the table. With `partition_column` and `partitions_from` (a
  small relation holding the batch, e.g. brt_gps_batch), the model is also read only in the
  partitions the batch touched, with a literal filter (BigQuery prunes on it; DuckDB does not care).
-#}

{#- Contract: each key written by this build appears once in the whole model (within its partitions). -#}
{% test unique_in_build(model, columns, built_column, partition_column=none, partitions_from=none) %}
{%- set scope = rota_brt.brt_test_partition_filter(partition_column, partitions_from) %}
with scoped as (
  select {{ columns | join(', ') }}, {{ built_column }} as built from {{ model }} where {{ scope }}
),
new_keys as (
  select distinct {{ columns | join(', ') }} from scoped where built = {{ rota_brt.build_time() }}
)
select {% for c in columns %}s.{{ c }}, {% endfor %}count(*) as occurrences
from scoped s
join new_keys n on {% for c in columns %}s.{{ c }} = n.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
group by {% for c in columns %}s.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
having count(*) > 1
{% endtest %}

{#- Contract: every row written by this build satisfies `expression`. -#}
{% test holds_in_build(model, expression, built_column, partition_column=none, partitions_from=none) %}
select *
from {{ model }}
where {{ rota_brt.brt_test_partition_filter(partition_column, partitions_from) }}
  and {{ built_column }} = {{ rota_brt.build_time() }}
  and not coalesce({{ expression }}, false)
{% endtest %}

{#- Data quality: the rows of this build flagged by `flag`, when they are more than `max_share` of them. -#}
{% test anomaly_share(model, flag, max_share, built_column, partition_column=none, partitions_from=none) %}
with built as (
  select * from {{ model }}
  where {{ rota_brt.brt_test_partition_filter(partition_column, partitions_from) }}
    and {{ built_column }} = {{ rota_brt.build_time() }}
),
share as (
  select avg(case when {{ flag }} then 1.0 else 0.0 end) as flagged_share from built
)
select built.*
from built cross join share
where {{ flag }} and share.flagged_share > {{ max_share }}
{% endtest %}
