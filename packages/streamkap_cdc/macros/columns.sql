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
    {{ return(streamkap_cdc.cdc_checked_columns(adapter.get_columns_in_relation(change_log), key_names, change_log)) }}
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
    {{- return(adapter.dispatch('cdc_state_name', 'streamkap_cdc')(name)) -}}
{% endmacro %}


{% macro default__cdc_state_name(name) %}{{ return(name | lower) }}{% endmacro %}

{% macro snowflake__cdc_state_name(name) %}{{ return(name | upper) }}{% endmacro %}

{# `name` quoted as the current state spells it (quoted: a column may be a keyword). #}
{% macro cdc_state_column(name) %}
    {{- return(adapter.quote(streamkap_cdc.cdc_state_name(name))) -}}
{% endmacro %}


{# A change-log column in a select list: read by its spelling, named as the current state's. #}
{% macro cdc_read_column(column) %}
    {%- set read = adapter.quote(column.name) -%}
    {%- set named = streamkap_cdc.cdc_state_column(column.name) -%}
    {{- return(read if read == named else read ~ ' as ' ~ named) -}}
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
