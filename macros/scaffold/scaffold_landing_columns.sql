{# Logs the columns of every table of the Magento landing schema as one JSON line, for
   scripts/scaffold_cdc.py (dbt run-operation scaffold_landing_columns). The landing
   database and schema resolve as in models/staging/magento/_magento__sources.yml. #}
{% macro scaffold_landing_columns(database=none, schema=none) %}
    {%- set database = database or var('magento_landing_database', env_var('DBT_MAGENTO_LANDING_DATABASE', env_var('MAGENTO_LANDING_DATABASE', target.database))) -%}
    {%- set schema = schema or var('magento_landing_schema', env_var('DBT_MAGENTO_LANDING_SCHEMA', env_var('MAGENTO_LANDING_SCHEMA', 'streamkap'))) -%}
    {%- set columns = [] -%}
    {%- if execute -%}
        {%- set result = run_query(scaffold_landing_columns_sql(database, schema)) -%}
        {%- for row in result.rows -%}
            {%- do columns.append({
                'table': row[0],
                'column': row[1],
                'position': row[2] | int,
                'data_type': row[3],
                'numeric_precision': none if row[4] is none else row[4] | int,
                'numeric_scale': none if row[5] is none else row[5] | int,
            }) -%}
        {%- endfor -%}
    {%- endif -%}
    {#- The adapter and the landing columns' letter case setting: the scaffold checks
        the columns' stored case against it on Snowflake. -#}
    {%- do log('scaffold_landing_columns ' ~ tojson({
        'database': database, 'schema': schema, 'columns': columns, 'target_type': target.type,
        'quoted_columns': var('magento_landing_quoted_columns', false) | string | lower == 'true',
    }), info=true) -%}
{% endmacro %}


{# The query listing the landing schema's columns from information_schema. #}
{% macro scaffold_landing_columns_sql(database, schema) %}
    {{ return(adapter.dispatch('scaffold_landing_columns_sql')(database, schema)) }}
{% endmacro %}


{# Snowflake and other engines with one information_schema per database. #}
{% macro default__scaffold_landing_columns_sql(database, schema) %}
    {%- set sql -%}
select table_name, column_name, ordinal_position, data_type, numeric_precision, numeric_scale
from {{ adapter.quote_as_configured(database, 'database') }}.information_schema.columns
where upper(table_schema) = upper('{{ schema | replace("'", "''") }}')
order by table_name, ordinal_position
    {%- endset -%}
    {{ return(sql) }}
{% endmacro %}


{# DuckDB: one information_schema for every attached database, filtered by catalog. #}
{% macro duckdb__scaffold_landing_columns_sql(database, schema) %}
    {%- set sql -%}
select table_name, column_name, ordinal_position, data_type, numeric_precision, numeric_scale
from information_schema.columns
where table_catalog = '{{ database | replace("'", "''") }}'
    and upper(table_schema) = upper('{{ schema | replace("'", "''") }}')
order by table_name, ordinal_position
    {%- endset -%}
    {{ return(sql) }}
{% endmacro %}
