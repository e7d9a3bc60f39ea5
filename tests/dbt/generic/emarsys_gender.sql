{# Emarsys's gender field (5) takes 1 male, 2 female, 3 not specified. Fails on
   any other value; NULL is allowed (the field is left empty). #}
{% test emarsys_gender(model, column_name) %}

select {{ column_name }} as gender
from {{ model }}
where {{ column_name }} is not null and {{ column_name }} not in (1, 2, 3)

{% endtest %}
