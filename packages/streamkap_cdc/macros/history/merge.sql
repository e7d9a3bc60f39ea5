{# Replaces the versions of the keys in `recomputed` with its rows, in one statement:
   versions that changed are updated, new ones inserted, versions a key no longer has
   removed, and the others left alone. `base_column`: a column of `recomputed` below
   whose value a key's versions are final (started from a checkpoint), never removed. #}
{% macro cdc_history_merge_sql(target, recomputed, column_names, keys, base_column=none) %}
    {%- set key_match -%}
        {%- for key in keys -%}
            {{ 'recomputed.' ~ key }} = history_rows.{{ key }} and {% endfor -%}
    {%- endset %}
merge into {{ target }} as history
using (
    select {{ column_names | join(', ') }}, false as _cdc_remove
    from {{ recomputed }}
    union all
    select history_rows.{{ column_names | join(', history_rows.') }}, true as _cdc_remove
    from {{ target }} as history_rows
    where exists (
            select 1 from {{ recomputed }} as recomputed
            where {{ key_match }}{{ 'history_rows.version_number >= recomputed.' ~ base_column if base_column else 'true' }}
        )
        and not exists (
            select 1 from {{ recomputed }} as recomputed
            where {{ key_match }}recomputed.version_number = history_rows.version_number
        )
) as changes
    on {% for key in keys -%}
        history.{{ key }} = changes.{{ key }} and {% endfor -%} history.version_number = changes.version_number
when matched and changes._cdc_remove then delete
{#- Unchanged versions are not rewritten: a run writes only what the new events changed. #}
when matched and (
    {%- for name in column_names %}
    history.{{ name }} is distinct from changes.{{ name }}{{ ' or' if not loop.last }}
    {%- endfor %}
) then update set
    {%- for name in column_names %}
    {{ name }} = changes.{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
when not matched and not changes._cdc_remove then insert (
    {{ column_names | join(', ') }}
) values (
    changes.{{ column_names | join(', changes.') }}
)
{% endmacro %}
