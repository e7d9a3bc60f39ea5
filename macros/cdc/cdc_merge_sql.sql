{# Applies the newest event of each key (the batch) to the current state, unless the
   row already holds a newer one (the sequence guard). A delete event removes its row
   in the same statement, so no reader ever sees a row whose delete was applied; a
   delete of a key that is not there inserts nothing. The batch has one row per key,
   so neither engine sees a key matched twice. With `hold_back`, the batch's
   __cdc_held_back events (see cdc_latest_events) update rows but insert none. #}
{% macro cdc_merge_sql(target, batch_sql, columns, key_names, offset_resets=[], hold_back=false) %}
    {#- The batch and the target both spell columns as the current state does. -#}
    {%- set key_columns = [] -%}
    {%- for column in cdc_pick_columns(columns, key_names) %}{% do key_columns.append(cdc_state_column(column.name)) %}{% endfor -%}
    {%- set column_names = [] -%}
    {%- for column in columns %}{% do column_names.append(cdc_state_column(column.name)) %}{% endfor -%}
    {%- set is_newer = cdc_is_newer('incoming', 'current_state', columns, offset_resets) -%}

merge into {{ target }} as current_state
using (
{{ batch_sql }}
) as incoming
    on {% for name in key_columns -%}
        current_state.{{ name }} = incoming.{{ name }}
        {%- if not loop.last %} and {% endif %}
    {%- endfor %}
when matched and incoming.__deleted and {{ is_newer }} then delete
when matched and {{ is_newer }} then update set
    {%- for name in column_names %}
    {{ name }} = incoming.{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
when not matched and not incoming.__deleted{{ ' and not incoming.__cdc_held_back' if hold_back }} then insert (
    {{ column_names | join(', ') }}
) values (
    incoming.{{ column_names | join(', incoming.') }}
)
{% endmacro %}
