{# The `cdc_merge` incremental strategy: applies the newest event of each key to the
   current state, unless the row already holds a newer one (the sequence guard).
   Delete events are written onto their row (__deleted = true) for the folder's
   post-hook to remove; a delete for a key that is not there inserts nothing.
   The batch has one row per key, so neither engine sees a key matched twice. #}
{% macro get_incremental_cdc_merge_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set batch = arg_dict['temp_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] -%}
    {%- set key_columns = cdc_pick_columns(columns, arg_dict['unique_key']) -%}
    {%- set column_names = columns | map(attribute='quoted') | list -%}

merge into {{ target }} as current_state
using {{ batch }} as incoming
    on {% for column in key_columns -%}
        current_state.{{ column.quoted }} = incoming.{{ column.quoted }}
        {%- if not loop.last %} and {% endif %}
    {%- endfor %}
when matched and {{ cdc_is_newer('incoming', 'current_state', columns) }} then update set
    {%- for name in column_names %}
    {{ name }} = incoming.{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
when not matched and not incoming.__deleted then insert (
    {{ column_names | join(', ') }}
) values (
    incoming.{{ column_names | join(', incoming.') }}
)
{% endmacro %}
