{# The combination of `columns` identifies a row: fails on each combination
   found more than once. #}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(',\n    ') }},
    count(*) as rows_with_combination

from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
