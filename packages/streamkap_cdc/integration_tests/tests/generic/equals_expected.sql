{# Fails with one row per difference between the model and the expected rows (a seed):
   a row (of `compare_columns`) the model holds more or fewer times than expected.
   Written with group by rather than EXCEPT ALL, which Snowflake lacks. #}
{% test equals_expected(model, expected, compare_columns) %}
{%- set listed = compare_columns | join(', ') %}
with actual_rows as (
    select {{ listed }}, count(*) as times from {{ model }} group by {{ listed }}
),

expected_rows as (
    select {{ listed }}, count(*) as times from {{ expected }} group by {{ listed }}
),

differences as (
    select 'unexpected' as difference, * from (select * from actual_rows except select * from expected_rows) as extra
    union all
    select 'missing' as difference, * from (select * from expected_rows except select * from actual_rows) as lacking
)

select * from differences
{% endtest %}
