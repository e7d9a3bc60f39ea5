{# The moment the CRM marts measure their windows back from, as a UTC timestamp
   without time zone: var `as_of` when set (a UTC date or date-time), else now. #}
{% macro as_of_timestamp() %}
    {%- set as_of = var('as_of', none) -%}
    {%- if as_of is none or as_of | string | trim == '' -%}
        {{ return(streamkap_cdc.current_utc_timestamp()) }}
    {%- endif -%}
    {#- YAML turns an unquoted date-time into a datetime; its text form is ISO. A
        trailing UTC marker is accepted; any other offset is refused, since the
        marts compare against Magento's UTC wall-clock times. -#}
    {%- set text = as_of | string | trim | replace('T', ' ') -%}
    {%- set text = modules.re.sub('(Z|[+]00:?00)$', '', text) -%}
    {%- set date_part = '[0-9]{4}-[0-9]{2}-[0-9]{2}' -%}
    {%- set time_part = '[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?' -%}
    {%- set pattern = '^' ~ date_part ~ '( ' ~ time_part ~ ')?$' -%}
    {%- if not modules.re.match(pattern, text) -%}
        {{ exceptions.raise_compiler_error(
            "var as_of must be a UTC date or date-time such as '2024-06-01 12:00:00'; got '"
            ~ as_of ~ "'.") }}
    {%- endif -%}
    {#- The type is spelled out: a plain TIMESTAMP on Snowflake follows the account's
        TIMESTAMP_TYPE_MAPPING. -#}
    {{ return("cast('" ~ text ~ "' as " ~ type_timestamp_ntz() ~ ")") }}
{% endmacro %}
