{# create table as, replacing the table: transient on Snowflake (current state is
   rebuilt from the change log, so Fail-safe would only cost storage). #}
{% macro cdc_create_table_as(relation, sql) %}
    {{- return(adapter.dispatch('cdc_create_table_as', 'streamkap_cdc')(relation, sql)) -}}
{% endmacro %}


{% macro default__cdc_create_table_as(relation, sql) -%}
    create or replace table {{ relation }} as (
{{ sql }}
    )
{%- endmacro %}


{% macro snowflake__cdc_create_table_as(relation, sql) -%}
    create or replace transient table {{ relation }} as (
{{ sql }}
    )
{%- endmacro %}
