{# The column type of a UTC timestamp without time zone, spelled out per engine.
   Snowflake's plain TIMESTAMP follows the account's TIMESTAMP_TYPE_MAPPING, which
   may make it LTZ (read in the session's time zone); TIMESTAMP_NTZ never is.
   DuckDB's TIMESTAMP has no time zone and DuckDB has no TIMESTAMP_NTZ name. #}
{% macro type_timestamp_ntz() %}
    {{ return(adapter.dispatch('type_timestamp_ntz', 'streamkap_cdc')()) }}
{% endmacro %}


{% macro default__type_timestamp_ntz() %}
    {{ return('timestamp') }}
{% endmacro %}


{% macro snowflake__type_timestamp_ntz() %}
    {{ return('timestamp_ntz') }}
{% endmacro %}


{# Epoch milliseconds (such as Streamkap's _streamkap_ts_ms) as a UTC timestamp
   without time zone. #}
{% macro epoch_ms_to_timestamp(epoch_ms) %}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp', 'streamkap_cdc')(epoch_ms)) }}
{% endmacro %}


{% macro default__epoch_ms_to_timestamp(epoch_ms) %}
    {#- No portable SQL turns epoch milliseconds into a zone-less timestamp. -#}
    {{ exceptions.raise_compiler_error(
        "epoch_ms_to_timestamp has no implementation for adapter '" ~ adapter.type()
        ~ "'; add " ~ adapter.type() ~ "__epoch_ms_to_timestamp in macros/utils/.") }}
{% endmacro %}


{% macro duckdb__epoch_ms_to_timestamp(epoch_ms) -%}
    {#- DuckDB: epoch_ms() returns a timestamp without time zone, in UTC. -#}
    epoch_ms(cast({{ epoch_ms }} as bigint))
{%- endmacro %}


{% macro snowflake__epoch_ms_to_timestamp(epoch_ms) -%}
    {#- Snowflake: scale 3 reads the number as milliseconds; _ntz applies no
        session time zone. -#}
    to_timestamp_ntz({{ epoch_ms }}, 3)
{%- endmacro %}


{# The current time in UTC, without time zone, so that it compares correctly with
   source timestamps kept as UTC wall-clock times without a zone on every engine. #}
{% macro current_utc_timestamp() %}
    {{ return(adapter.dispatch('current_utc_timestamp', 'streamkap_cdc')()) }}
{% endmacro %}


{% macro default__current_utc_timestamp() -%}
    {#- DuckDB and Postgres: current_timestamp carries the session's time zone, and
        `at time zone 'UTC'` turns it into the UTC wall clock without a zone. -#}
    cast(current_timestamp at time zone 'UTC' as {{ streamkap_cdc.type_timestamp_ntz() }})
{%- endmacro %}


{% macro snowflake__current_utc_timestamp() -%}
    {#- Snowflake has no `at time zone`; sysdate() is the current UTC time as a
        timestamp_ntz, whatever the session's TIMEZONE (current_timestamp() is an
        LTZ in the session's zone). -#}
    sysdate()
{%- endmacro %}
