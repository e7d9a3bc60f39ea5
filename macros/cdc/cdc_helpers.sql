{# Validates a unique_key argument and returns it as a list of column names. #}
{% macro cdc_key_names(unique_key, table) %}
    {%- if unique_key is string -%}
        {%- set trimmed = unique_key | trim -%}
        {%- if trimmed == '' -%}
            {{ exceptions.raise_compiler_error("cdc_current_state(" ~ table ~ "): unique_key is empty.") }}
        {%- endif -%}
        {%- if ',' in trimmed or ' ' in trimmed -%}
            {{ exceptions.raise_compiler_error(
                "cdc_current_state(" ~ table ~ "): unique_key '" ~ unique_key
                ~ "' looks like a composite key written as one string; pass a list such as "
                ~ (trimmed.split(',') | map('trim') | reject('equalto', '') | list | tojson) ~ ".") }}
        {%- endif -%}
        {{ return([trimmed]) }}
    {%- elif unique_key is iterable and unique_key is not mapping and unique_key | length > 0 -%}
        {%- for name in unique_key -%}
            {%- if name is not string or name | trim == '' or ',' in name or ' ' in (name | trim) -%}
                {{ exceptions.raise_compiler_error(
                    "cdc_current_state(" ~ table ~ "): unique_key must be a list of column names, "
                    ~ "one per list item; got " ~ (unique_key | tojson) ~ ".") }}
            {%- endif -%}
        {%- endfor -%}
        {%- set names = unique_key | map('trim') | list -%}
        {%- if names | map('lower') | unique | list | length != names | length -%}
            {{ exceptions.raise_compiler_error(
                "cdc_current_state(" ~ table ~ "): unique_key " ~ (unique_key | tojson) ~ " repeats a column.") }}
        {%- endif -%}
        {{ return(names) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "cdc_current_state(" ~ table ~ "): unique_key must be a column name or a list of "
            ~ "column names; got " ~ (unique_key | string) ~ ".") }}
    {%- endif -%}
{% endmacro %}


{# Validates the lookback (argument, else var cdc_lookback_minutes) and returns it in minutes. #}
{% macro cdc_lookback_minutes(lookback_minutes) %}
    {%- set value = lookback_minutes if lookback_minutes is not none else var('cdc_lookback_minutes', 15) -%}
    {%- set text = value | string | trim -%}
    {%- if value is boolean or not (text | replace('.', '', 1)).isdigit() -%}
        {{ exceptions.raise_compiler_error(
            "cdc_lookback_minutes must be a number of minutes, 0 or more; got '" ~ value ~ "'.") }}
    {%- endif -%}
    {{ return(text | float) }}
{% endmacro %}


{# The change log's columns as the warehouse describes them, checked. #}
{% macro cdc_change_log_columns(change_log, key_names) %}
    {{ return(cdc_checked_columns(adapter.get_columns_in_relation(change_log), key_names, change_log)) }}
{% endmacro %}


{# Identifier case. Snowflake stores and resolves unquoted names upper-case and quoted
   names as written, and Streamkap lands either UPPERCASE unquoted columns (its default)
   or "quoted lowercase" ones. The rule:
     - the change log is read by the names its metadata reports, quoted, the Streamkap
       columns included (cdc_log_column, cdc_read_column);
     - everything after that read, the current state included, uses the warehouse's
       spelling of the unquoted name (cdc_state_name: upper-case on Snowflake), so the
       staging models' bare names resolve whatever the landing shape. DuckDB resolves
       names in any case, quoted or not. #}

{# The quoted name of the change-log column `name` as `columns` (the metadata) spells it. #}
{% macro cdc_log_column(columns, name) %}
    {%- for column in columns if column.name | lower == name | lower -%}
        {{ return(adapter.quote(column.name)) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("cdc: no column '" ~ name ~ "' among " ~ columns | map(attribute='name') | join(', ') ~ ".") }}
{% endmacro %}

{# The name an unquoted `name` is stored under. #}
{% macro cdc_state_name(name) %}
    {{- return(adapter.dispatch('cdc_state_name')(name)) -}}
{% endmacro %}

{% macro default__cdc_state_name(name) %}{{ return(name | lower) }}{% endmacro %}

{% macro snowflake__cdc_state_name(name) %}{{ return(name | upper) }}{% endmacro %}

{# `name` quoted as the current state spells it (quoted: a column may be a keyword). #}
{% macro cdc_state_column(name) %}
    {{- return(adapter.quote(cdc_state_name(name))) -}}
{% endmacro %}

{# A change-log column in a select list: read by its spelling, named as the current state's. #}
{% macro cdc_read_column(column) %}
    {%- set read = adapter.quote(column.name) -%}
    {%- set named = cdc_state_column(column.name) -%}
    {{- return(read if read == named else read ~ ' as ' ~ named) -}}
{% endmacro %}


{# A landing column where no metadata is at hand (the source freshness query): quoted
   as written when var magento_landing_quoted_columns says Streamkap lands "quoted
   lowercase" columns, else bare (UPPERCASE unquoted, Streamkap's default). #}
{% macro cdc_landing_column(name) %}
    {{- return(adapter.quote(name) if var('magento_landing_quoted_columns', false) | string | lower == 'true' else name) -}}
{% endmacro %}


{# The columns among `columns` whose names match `names`, in any letter case. #}
{% macro cdc_pick_columns(columns, names) %}
    {%- set wanted = names | map('lower') | list -%}
    {%- set picked = [] -%}
    {%- for column in columns if column.name | lower in wanted -%}
        {%- do picked.append(column) -%}
    {%- endfor -%}
    {{ return(picked) }}
{% endmacro %}


{# Normalizes Streamkap's __deleted ('true'/'TRUE'/'false', NULL or a boolean) to a boolean. #}
{% macro cdc_is_deleted(column) -%}
    coalesce(lower(cast({{ column }} as varchar)) = 'true', false)
{%- endmacro %}


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
    {%- set order = [cdc_generation(relation_alias, offset_resets)] if offset_resets else [] -%}
    {%- do order.extend([
        delivered_ms or relation_alias ~ '._streamkap_ts_ms',
        relation_alias ~ '._streamkap_offset',
        relation_alias ~ '._streamkap_source_ts_ms',
    ]) -%}
    {#- Without columns, the order stops at the commit time. -#}
    {{ return(order + ([cdc_event_identity(relation_alias, columns)] if columns else [])) }}
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
        {%- do hashed.append(relation_alias ~ '.' ~ cdc_state_column(column.name)) -%}
    {%- endfor -%}
    {{ return('hash(' ~ hashed | join(', ') ~ ')') }}
{% endmacro %}


{# What makes two deliveries one event: everything but the ingestion time. A redelivery
   (a connector restart replays a suffix of the topic) repeats the offset, the commit
   time and the payload of an event already delivered; a new event never does. #}
{% macro cdc_event_identity(relation_alias, columns) %}
    {{- return(cdc_row_hash(relation_alias, columns, except=['_streamkap_ts_ms'])) -}}
{% endmacro %}


{# The ingestion times (epoch ms) at which a change log's offsets restarted, from var
   cdc_offset_resets: {<magento table>: [<epoch ms>, ...]}. Offsets restart when the
   topic is recreated or its partition count changes; record the `_streamkap_ts_ms` of
   the first event with the new offsets, once the old topic is drained. #}
{% macro cdc_offset_resets(table_name) %}
    {%- set resets = var('cdc_offset_resets', {}) -%}
    {%- if resets is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "var cdc_offset_resets must map Magento table names to lists of epoch ms; got " ~ resets ~ ".") }}
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
    {%- set left = cdc_event_order(new, columns, offset_resets) -%}
    {%- set right = cdc_event_order(old, columns, offset_resets, old_delivered_ms) -%}
    {%- set ns = namespace(sql=left[-1] ~ ' > ' ~ right[-1]) -%}
    {%- for i in range(left | length - 2, -1, -1) -%}
        {%- set ns.sql = '(' ~ left[i] ~ ' > ' ~ right[i] ~ ' or (' ~ left[i] ~ ' = ' ~ right[i] ~ ' and ' ~ ns.sql ~ '))' -%}
    {%- endfor -%}
    {{ return('(' ~ ns.sql ~ ' and not ' ~ cdc_is_repeat(new, old, columns, offset_resets) ~ ')') }}
{% endmacro %}


{# True when `new` cannot be later than `old`: the same event again, or dominated by it
   (see cdc_is_newer). Same declared generation only. #}
{% macro cdc_is_repeat(new, old, columns, offset_resets=[]) %}
    {%- set same_generation = cdc_generation(new, offset_resets) ~ ' = ' ~ cdc_generation(old, offset_resets) -%}
    {{- return('(' ~ same_generation ~ ' and ('
        ~ (cdc_event_identity(new, columns) ~ ' = ' ~ cdc_event_identity(old, columns) ~ ' or ' if columns else '')
        ~ '(' ~ new ~ '._streamkap_offset < ' ~ old ~ '._streamkap_offset and '
        ~ new ~ '._streamkap_source_ts_ms < ' ~ old ~ '._streamkap_source_ts_ms)))') -}}
{% endmacro %}


{# True when `new` and `old` are deliveries of one event (cdc_event_identity). #}
{% macro cdc_is_same_event(new, old, columns, offset_resets=[]) %}
    {{- return('(' ~ cdc_generation(new, offset_resets) ~ ' = ' ~ cdc_generation(old, offset_resets) ~ ' and '
        ~ cdc_event_identity(new, columns) ~ ' = ' ~ cdc_event_identity(old, columns) ~ ')') -}}
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


{# True when an event's original, were it a redelivery, could lie outside what a run
   reads: committed more than `margin_ms` before the window, and outside the commit
   times held back by the previous run (cdc_record_watermark), whose originals the run
   looks up. Such an event waits a run when its decision depends on it. #}
{% macro cdc_is_unchecked(commit_ts, window_start, margin_ms, held_range=none) -%}
    ({{ commit_ts }} < {{ window_start - margin_ms }}
    {%- if held_range %} and not {{ commit_ts }} between {{ held_range[0] }} and {{ held_range[1] }}{% endif %})
{%- endmacro %}
