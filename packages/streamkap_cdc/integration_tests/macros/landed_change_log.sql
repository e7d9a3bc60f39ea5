{# The change log of `table` once the batches up to var batch have landed
   (seeds <table>_batch_1, <table>_batch_2): each batch appends its events, as
   Streamkap appends to a landing table between two runs. #}
{% macro landed_change_log(table) %}
select * from {{ ref(table ~ '_batch_1') }}
{%- if var('batch') | int >= 2 %}
union all
select * from {{ ref(table ~ '_batch_2') }}
{%- endif %}
{% endmacro %}
