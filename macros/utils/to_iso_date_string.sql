{# A date or timestamp as 'YYYY-MM-DD' text (the form Emarsys date fields take),
   whatever the session's date output format. #}
{% macro to_iso_date_string(expression) %}
    {{ return(adapter.dispatch('to_iso_date_string')(expression)) }}
{% endmacro %}

{% macro default__to_iso_date_string(expression) -%}
    {#- Snowflake, Postgres and Redshift format with to_char. The cast to date
        drops any time part before formatting, so the result is a date even
        where a format is applied loosely. -#}
    to_char(cast({{ expression }} as date), 'YYYY-MM-DD')
{%- endmacro %}

{% macro duckdb__to_iso_date_string(expression) -%}
    {#- DuckDB has no to_char; strftime takes C-style format codes. -#}
    strftime({{ expression }}, '%Y-%m-%d')
{%- endmacro %}
