{# run-operation for a project's runner, which decides
   from the answer which current-state models have events to apply. Two metadata
   queries for the whole fleet, however many tables: the tables of the given schemas
   with their row counts, then the watermarks of the target schemas that have them.
   Each answers one aggregated string, not a row per table: a fleet's thousands of
   result rows would cost the run more than the queries. On Snowflake, one SHOW
   TABLES per schema instead, so a cycle with nothing new needs no warehouse
   (snowflake__cdc_fleet_status_lists). Logs one line:
   'cdc_fleet_status: {"tables": "...", "applied": "..."}', each a newline-separated
   list of 'database.schema<TAB>table<TAB>rows' (landed_rows for "applied"), names
   lower-cased, rows empty when unknown. #}
{% macro cdc_fleet_status(schemas, target_schemas) %}
    {%- set lists = adapter.dispatch('cdc_fleet_status_lists', 'streamkap_cdc')(schemas, target_schemas) -%}
    {{ log('cdc_fleet_status: ' ~ tojson({'tables': lists[0], 'applied': lists[1]}), info=true) }}
{% endmacro %}


{% macro default__cdc_fleet_status_lists(schemas, target_schemas) %}
    {%- set parts = [] -%}
    {%- for schema in schemas -%}
        {%- set relation = api.Relation.create(database=schema['database'], schema=schema['schema']) -%}
        {%- do parts.append("select lower(" ~ dbt.string_literal(schema['database'] ~ '.' ~ schema['schema'])
            ~ ") as schema_name, lower(table_name) as table_name, row_count from ("
            ~ streamkap_cdc.cdc_schema_row_counts(relation) ~ ") as t") -%}
    {%- endfor -%}
    {%- set tables = streamkap_cdc.cdc_fleet_status_list(parts) -%}
    {%- set parts = [] -%}
    {%- for schema in target_schemas -%}
        {%- set key = (schema['database'] ~ '.' ~ schema['schema']) | lower -%}
        {%- if ('\n' ~ key ~ '\tcdc_watermarks\t') in ('\n' ~ tables) -%}
            {%- set watermarks = streamkap_cdc.cdc_watermarks_relation(api.Relation.create(database=schema['database'], schema=schema['schema'])) -%}
            {%- do parts.append("select lower(" ~ dbt.string_literal(key)
                ~ ") as schema_name, lower(table_name) as table_name, landed_rows as row_count from " ~ watermarks) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set applied = streamkap_cdc.cdc_fleet_status_list(parts) if parts else '' -%}
    {{ return([tables, applied]) }}
{% endmacro %}


{# Snowflake: one SHOW TABLES per schema (cloud services, no warehouse): each table's
   `rows`, and for the target schemas the landed-rows mark of each target's comment
   (cdc_mark_landed_rows), not the watermarks table, which only a warehouse reads.
   SHOW lists at most 10,000 tables a schema. #}
{% macro snowflake__cdc_fleet_status_lists(schemas, target_schemas) %}
    {%- set targets = [] -%}
    {%- for schema in target_schemas -%}
        {%- do targets.append((schema['database'] ~ '.' ~ schema['schema']) | lower) -%}
    {%- endfor -%}
    {%- set tables, applied = [], [] -%}
    {%- for schema in schemas -%}
        {%- set key = (schema['database'] ~ '.' ~ schema['schema']) | lower -%}
        {%- set relation = api.Relation.create(database=schema['database'], schema=schema['schema']) -%}
        {%- for table in streamkap_cdc.cdc_show_rows('show tables in schema ' ~ relation) -%}
            {%- set line = key ~ '\t' ~ table['name'] | lower ~ '\t' -%}
            {%- do tables.append(line ~ ('' if table['rows'] is none else table['rows'] | int)) -%}
            {%- set marked = streamkap_cdc.cdc_marked_landed_rows(table['comment']) if key in targets else none -%}
            {%- if marked is not none -%}{%- do applied.append(line ~ marked) -%}{%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return([tables | join('\n'), applied | join('\n')]) }}
{% endmacro %}


{# The rows of the union of `parts` (schema_name, table_name, row_count) as one string. #}
{% macro cdc_fleet_status_list(parts) %}
    {%- set row = "schema_name || '\t' || table_name || '\t' || coalesce(cast(row_count as varchar), '')" -%}
    {%- set sql = "select " ~ dbt.listagg(row, "'\n'") ~ " from (\n" ~ parts | join('\nunion all\n') ~ "\n) as fleet" -%}
    {{ return(run_query(sql).columns[0].values()[0] or '') }}
{% endmacro %}


{# The tables of a schema with their row counts, from metadata (table_name, row_count). #}
{% macro cdc_schema_row_counts(schema_relation) %}
    {{- return(adapter.dispatch('cdc_schema_row_counts', 'streamkap_cdc')(schema_relation)) -}}
{% endmacro %}


{% macro default__cdc_schema_row_counts(schema_relation) -%}
    select table_name, estimated_size as row_count from duckdb_tables()
    where database_name = '{{ schema_relation.database }}' and schema_name = '{{ schema_relation.schema }}'
{%- endmacro %}
