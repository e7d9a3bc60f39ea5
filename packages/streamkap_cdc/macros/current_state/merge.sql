{# Applies the newest event of each key (the batch) to the current state, unless the
   row already holds it or a later one (the sequence guard, cdc_is_newer). A delete
   event removes its row in the same statement, so no reader ever sees a row whose
   delete was applied; a delete of a key that is not there inserts nothing. The batch
   has one row per key, so neither engine sees a key matched twice.
   With `hold_back`, the batch's __cdc_held_back events wait a run (cdc_latest_events).
   After a re-snapshot (`resnapshot_ms`) a key without a row comes back only with a
   change committed since its start. `guard=false` (the nightly repair, which compares
   whole logs) applies the batch as it is. #}
{% macro cdc_merge_sql(target, batch_sql, columns, key_names, offset_resets=[], hold_back=false, resnapshot_ms=none,
                       guard=true) %}
    {#- The batch and the target both spell columns as the current state does. -#}
    {%- set key_columns = [] -%}
    {%- for column in streamkap_cdc.cdc_pick_columns(columns, key_names) %}{% do key_columns.append(streamkap_cdc.cdc_state_column(column.name)) %}{% endfor -%}
    {%- set column_names = [] -%}
    {%- for column in columns %}{% do column_names.append(streamkap_cdc.cdc_state_column(column.name)) %}{% endfor -%}
    {%- set applies = streamkap_cdc.cdc_merge_applies(columns, offset_resets, hold_back, guard) %}

merge into {{ target }} as current_state
using (
{{ batch_sql }}
) as incoming
    on {{ streamkap_cdc.cdc_same_key('current_state', 'incoming', key_columns) }}
when matched and incoming.__deleted{{ applies }} then delete
when matched{{ applies }} then update set
    {%- for name in column_names %}
    {{ name }} = incoming.{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- if guard %}
{#- The row's own event, delivered earlier than the delivery the row holds (a redelivery
    became visible before its original): the row holds its first delivery, as a rebuild. #}
when matched and incoming._streamkap_ts_ms < current_state._streamkap_ts_ms
    and {{ streamkap_cdc.cdc_is_same_event('incoming', 'current_state', columns, offset_resets) }} then update set
    _streamkap_ts_ms = incoming._streamkap_ts_ms
{%- endif %}
when not matched and {{ streamkap_cdc.cdc_merge_inserts(hold_back, resnapshot_ms) }} then insert (
    {{ column_names | join(', ') }}
) values (
    incoming.{{ column_names | join(', incoming.') }}
)
{% endmacro %}


{# The condition (" and ...", or empty) under which the MERGE applies an incoming event to
   the row it matches; the change feed records a matched key under the same condition. #}
{% macro cdc_merge_applies(columns, offset_resets=[], hold_back=false, guard=true) -%}
    {%- if guard %} and {{ streamkap_cdc.cdc_is_newer('incoming', 'current_state', columns, offset_resets,
                                       'coalesce(incoming.__cdc_row_delivered_ms, current_state._streamkap_ts_ms)'
                                       if hold_back else none) }}{% endif -%}
    {%- if hold_back %} and not incoming.__cdc_held_back{% endif -%}
{%- endmacro %}


{# The condition under which the MERGE inserts an incoming event whose key has no row. #}
{% macro cdc_merge_inserts(hold_back=false, resnapshot_ms=none) -%}
    not incoming.__deleted
    {%- if hold_back %} and not incoming.__cdc_held_back{% endif %}
    {%- if resnapshot_ms is not none %} and incoming._streamkap_source_ts_ms >= {{ resnapshot_ms }}{% endif %}
{%- endmacro %}
