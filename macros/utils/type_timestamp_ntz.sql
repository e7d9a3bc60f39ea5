{# The column type of a UTC timestamp without time zone, spelled out per engine.
   Snowflake's plain TIMESTAMP follows the account's TIMESTAMP_TYPE_MAPPING, which
   may make it LTZ (read in the session's time zone); TIMESTAMP_NTZ never is.
   DuckDB's TIMESTAMP has no time zone and DuckDB has no TIMESTAMP_NTZ name. #}
{% macro type_timestamp_ntz() %}
    {{ return(adapter.dispatch('type_timestamp_ntz')()) }}
{% endmacro %}

{% macro default__type_timestamp_ntz() %}
    {{ return('timestamp') }}
{% endmacro %}

{% macro snowflake__type_timestamp_ntz() %}
    {{ return('timestamp_ntz') }}
{% endmacro %}
