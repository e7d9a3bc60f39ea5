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


{# The total order of events of one key, most significant first: commit time, offset,
   ingestion time, then a hash of the whole row so that even identical sequence values
   resolve the same way in every batch split. Columns are hashed in name order so the
   target (whose added columns come last) and the change log agree. #}
{% macro cdc_event_order(relation_alias, columns) %}
    {%- set hashed = [] -%}
    {#- Jinja's sort ignores letter case, as the warehouse does. -#}
    {%- for column in columns | sort(attribute='name') -%}
        {%- do hashed.append(relation_alias ~ '.' ~ column.quoted) -%}
    {%- endfor -%}
    {%- set order = [
        relation_alias ~ '._streamkap_source_ts_ms',
        relation_alias ~ '._streamkap_offset',
        relation_alias ~ '._streamkap_ts_ms',
    ] -%}
    {#- Without columns, the order stops at the ingestion time. -#}
    {{ return(order + (['hash(' ~ hashed | join(', ') ~ ')'] if hashed else [])) }}
{% endmacro %}


{# SQL that is true when the event `newer` comes after `older` in the order above. #}
{% macro cdc_is_newer(newer, older, columns) %}
    {%- set left = cdc_event_order(newer, columns) -%}
    {%- set right = cdc_event_order(older, columns) -%}
    {%- set ns = namespace(sql=left[-1] ~ ' > ' ~ right[-1]) -%}
    {%- for i in range(left | length - 2, -1, -1) -%}
        {%- set ns.sql = '(' ~ left[i] ~ ' > ' ~ right[i] ~ ' or (' ~ left[i] ~ ' = ' ~ right[i] ~ ' and ' ~ ns.sql ~ '))' -%}
    {%- endfor -%}
    {{ return(ns.sql) }}
{% endmacro %}
