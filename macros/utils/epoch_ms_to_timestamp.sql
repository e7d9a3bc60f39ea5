{# Epoch milliseconds (such as Streamkap's _streamkap_ts_ms) as a UTC timestamp
   without time zone. #}
{% macro epoch_ms_to_timestamp(epoch_ms) %}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp')(epoch_ms)) }}
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
