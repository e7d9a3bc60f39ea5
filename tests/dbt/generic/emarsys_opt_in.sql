{# Emarsys's opt-in field (31) takes 1 (opted in) or 2 (not opted in). Fails on
   any other value, and on NULL: every synced contact states its consent. #}
{% test emarsys_opt_in(model, column_name) %}

select {{ column_name }} as opt_in
from {{ model }}
where {{ column_name }} is null or {{ column_name }} not in (1, 2)

{% endtest %}
