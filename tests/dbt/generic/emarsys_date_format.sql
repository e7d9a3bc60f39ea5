{# Emarsys date fields take text in the form YYYY-MM-DD. Fails on values that
   are not a real calendar date written exactly that way (NULL is allowed: the
   field is left empty). #}
{% test emarsys_date_format(model, column_name) %}

with

field_values as (

    select
        {{ column_name }} as field_value,
        try_cast({{ column_name }} as date) as parsed_date

    from {{ model }}
    where {{ column_name }} is not null

)

select *
from field_values
where
    parsed_date is null
    {#- Formatting the parsed date back must give the same text: this rejects
        '2024-1-5', '2024-01-05 10:00' and the like. #}
    or {{ to_iso_date_string('parsed_date') }} != field_value

{% endtest %}
