{# Applies the newest event of each key (the batch) to the current state, unless the
   row already holds a newer one (the sequence guard). A delete event removes its row
   in the same statement, so no reader ever sees a row whose delete was applied; a
   delete of a key that is not there inserts nothing. The batch has one row per key,
   so neither engine sees a key matched twice. #}
{% macro cdc_merge_sql(target, batch_sql, columns, key_names, offset_resets=[]) %}
    {%- set key_columns = cdc_pick_columns(columns, key_names) -%}
    {%- set column_names = columns | map(attribute='quoted') | list -%}
    {%- set is_newer = cdc_is_newer('incoming', 'current_state', columns, offset_resets) -%}

merge into {{ target }} as current_state
using (
{{ batch_sql }}
) as incoming
    on {% for column in key_columns -%}
        current_state.{{ column.quoted }} = incoming.{{ column.quoted }}
        {%- if not loop.last %} and {% endif %}
    {%- endfor %}
when matched and incoming.__deleted and {{ is_newer }} then delete
when matched and {{ is_newer }} then update set
    {%- for name in column_names %}
    {{ name }} = incoming.{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
when not matched and not incoming.__deleted then insert (
    {{ column_names | join(', ') }}
) values (
    incoming.{{ column_names | join(', incoming.') }}
)
{% endmacro %}
