{# The order of one key's events (README, Event order), most significant first:
     1. the declared offset generation (var cdc_offset_resets), when the table has any;
     2. `_streamkap_ts_ms`, the ingestion time. Streamkap processes a partition in offset
        order and a recreated topic after the old one, so among first deliveries (a
        redelivery is the same event as its original, see cdc_event_identity) the later
        ingested is the later event, within a topic generation and across them;
     3. `_streamkap_offset`, then the commit time: events ingested in the same millisecond;
     4. a hash of the row but its ingestion time (cdc_event_identity), so that even
        identical sequence values resolve the same way in every batch split, whichever
        delivery of each event a run sees. Columns are hashed in name order so the
        target (whose added columns come last) and the change log agree.
   `relation_alias` names rows already read (current-state spelling, see above);
   `delivered_ms`, SQL of their first delivery's ingestion time when it is not theirs
   (a row applied from a redelivery, see cdc_latest_events). #}
{% macro cdc_event_order(relation_alias, columns, offset_resets=[], delivered_ms=none) %}
    {%- set order = [streamkap_cdc.cdc_generation(relation_alias, offset_resets)] if offset_resets else [] -%}
    {%- do order.extend([
        delivered_ms or relation_alias ~ '._streamkap_ts_ms',
        relation_alias ~ '._streamkap_offset',
        relation_alias ~ '._streamkap_source_ts_ms',
    ]) -%}
    {#- Without columns, the order stops at the commit time. -#}
    {{ return(order + ([streamkap_cdc.cdc_event_identity(relation_alias, columns)] if columns else [])) }}
{% endmacro %}


{# The declared offset generation of an event: how many of the table's declared restarts
   it was ingested at or after. #}
{% macro cdc_generation(relation_alias, offset_resets) %}
    {%- if not offset_resets -%}{{ return('0') }}{%- endif -%}
    {%- set terms = [] -%}
    {%- for reset_ms in offset_resets -%}
        {%- do terms.append('case when ' ~ relation_alias ~ '._streamkap_ts_ms >= ' ~ reset_ms ~ ' then 1 else 0 end') -%}
    {%- endfor -%}
    {{ return('(' ~ terms | join(' + ') ~ ')') }}
{% endmacro %}


{# A hash of the row's columns in name order; `except` names columns left out. #}
{% macro cdc_row_hash(relation_alias, columns, except=[]) %}
    {%- set hashed = [] -%}
    {#- Jinja's sort ignores letter case, as the warehouse does. -#}
    {%- for column in columns | sort(attribute='name') if column.name | lower not in except -%}
        {%- do hashed.append(relation_alias ~ '.' ~ streamkap_cdc.cdc_state_column(column.name)) -%}
    {%- endfor -%}
    {{ return('hash(' ~ hashed | join(', ') ~ ')') }}
{% endmacro %}


{# What makes two deliveries one event: everything but the ingestion time. A redelivery
   (a connector restart replays a suffix of the topic) repeats the offset, the commit
   time and the payload of an event already delivered; a new event never does. #}
{% macro cdc_event_identity(relation_alias, columns) %}
    {{- return(streamkap_cdc.cdc_row_hash(relation_alias, columns, except=['_streamkap_ts_ms'])) -}}
{% endmacro %}


{# The ingestion times (epoch ms) at which a change log's offsets restarted, from var
   cdc_offset_resets: {<source table>: [<epoch ms>, ...]}. Offsets restart when the
   topic is recreated or its partition count changes; record the `_streamkap_ts_ms` of
   the first event with the new offsets, once the old topic is drained. #}
{% macro cdc_offset_resets(table_name) %}
    {%- set resets = var('cdc_offset_resets', {}) -%}
    {%- if resets is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "var cdc_offset_resets must map source table names to lists of epoch ms; got " ~ resets ~ ".") }}
    {%- endif -%}
    {%- set listed = resets.get(table_name, []) -%}
    {%- set checked = [] -%}
    {%- for value in ([listed] if listed is number or listed is string else listed) -%}
        {%- if value is boolean or not (value | string | trim).isdigit() -%}
            {{ exceptions.raise_compiler_error(
                "var cdc_offset_resets['" ~ table_name ~ "'] must be a list of epoch milliseconds; got '"
                ~ value ~ "'.") }}
        {%- endif -%}
        {%- do checked.append(value | string | trim | int) -%}
    {%- endfor -%}
    {{ return(checked | sort) }}
{% endmacro %}


{# SQL comparing an event `new` of a key with the event `old` applied to its row (both
   in current-state spelling, `columns` the change log's). cdc_is_newer is the merge's
   sequence guard: true when `new` comes after `old` in cdc_event_order, unless it
   repeats `old` or is dominated by it (ingested later, yet an offset and a commit time
   both below the applied event's: not a later event of the same topic, whose offsets
   rise, nor of a recreated one, whose commits do not fall, so a redelivery of an older
   event). `old_delivered_ms`: see cdc_event_order. #}
{% macro cdc_is_newer(new, old, columns, offset_resets=[], old_delivered_ms=none) %}
    {%- set left = streamkap_cdc.cdc_event_order(new, columns, offset_resets) -%}
    {%- set right = streamkap_cdc.cdc_event_order(old, columns, offset_resets, old_delivered_ms) -%}
    {%- set ns = namespace(sql=left[-1] ~ ' > ' ~ right[-1]) -%}
    {%- for i in range(left | length - 2, -1, -1) -%}
        {%- set ns.sql = '(' ~ left[i] ~ ' > ' ~ right[i] ~ ' or (' ~ left[i] ~ ' = ' ~ right[i] ~ ' and ' ~ ns.sql ~ '))' -%}
    {%- endfor -%}
    {{ return('(' ~ ns.sql ~ ' and not ' ~ streamkap_cdc.cdc_is_repeat(new, old, columns, offset_resets) ~ ')') }}
{% endmacro %}


{# True when `new` cannot be later than `old`: the same event again, or dominated by it
   (see cdc_is_newer). Same declared generation only. #}
{% macro cdc_is_repeat(new, old, columns, offset_resets=[]) %}
    {%- set same_generation = streamkap_cdc.cdc_generation(new, offset_resets) ~ ' = ' ~ streamkap_cdc.cdc_generation(old, offset_resets) -%}
    {{- return('(' ~ same_generation ~ ' and ('
        ~ (streamkap_cdc.cdc_event_identity(new, columns) ~ ' = ' ~ streamkap_cdc.cdc_event_identity(old, columns) ~ ' or ' if columns else '')
        ~ '(' ~ new ~ '._streamkap_offset < ' ~ old ~ '._streamkap_offset and '
        ~ new ~ '._streamkap_source_ts_ms < ' ~ old ~ '._streamkap_source_ts_ms)))') -}}
{% endmacro %}


{# True when `new` and `old` are deliveries of one event (cdc_event_identity). #}
{% macro cdc_is_same_event(new, old, columns, offset_resets=[]) %}
    {{- return('(' ~ streamkap_cdc.cdc_generation(new, offset_resets) ~ ' = ' ~ streamkap_cdc.cdc_generation(old, offset_resets) ~ ' and '
        ~ streamkap_cdc.cdc_event_identity(new, columns) ~ ' = ' ~ streamkap_cdc.cdc_event_identity(old, columns) ~ ')') -}}
{% endmacro %}


{# True when `new`, later than the applied `old` by cdc_is_newer, is later only if it is
   not a redelivery: its offset is not above the applied one's (a recreated topic, or a
   copy of an earlier read of a snapshot), or its commit time is below it (a change
   committed during a snapshot, or a copy of an older topic's event). Only a lookup of
   the event's original in the log tells (cdc_latest_events). #}
{% macro cdc_needs_original(new, old) -%}
    not ({{ new }}._streamkap_offset > {{ old }}._streamkap_offset
         and {{ new }}._streamkap_source_ts_ms >= {{ old }}._streamkap_source_ts_ms)
{%- endmacro %}
