{# One statement telling a run what it needs: the change log's columns, the target's
   (current state or history) columns (none when it does not exist), the watermark with
   the commit times the last run held back, the start of the table's last re-snapshot
   (cdc_repairs) and the one the target reflects, and how many rows the change log holds
   now (from table metadata, never a scan); and the columns of `side`, a relation the
   materialization keeps beside the target (none: no such relation). Returns a dict. #}
{% macro cdc_plan(change_log, target, watermarks, resnapshot_table, side=none) %}
    {%- set sql -%}
        select 'change_log' as part, column_name as name, ordinal_position as position, cast(null as bigint) as value,
               data_type
        from {{ streamkap_cdc.cdc_columns_metadata(change_log) }}
        union all
        select 'target', column_name, ordinal_position, null, data_type
        from {{ streamkap_cdc.cdc_columns_metadata(target) }}
        {%- if side is not none %}
        union all
        select 'side', column_name, ordinal_position, null, data_type
        from {{ streamkap_cdc.cdc_columns_metadata(side) }}
        {%- endif %}
        union all
        select 'applied_through_ms', null, null, applied_through_ms, null from {{ watermarks }}
        where table_name = '{{ target.identifier }}'
        union all
        select 'applied_landed_rows', null, null, landed_rows, null from {{ watermarks }}
        where table_name = '{{ target.identifier }}'
        union all
        select 'landed_rows', null, null, ({{ streamkap_cdc.cdc_row_count_metadata(change_log) }}), null
        {%- for column in ['held_from_ms', 'held_to_ms', 'resnapshot_ms'] %}
        union all
        select '{{ 'applied_' if column == 'resnapshot_ms' }}{{ column }}', null, null, {{ column }}, null from {{ watermarks }}
        where table_name = '{{ target.identifier }}'
        {%- endfor %}
        union all
        select 'resnapshot_ms', null, null, max(snapshot_started_at_ms), null from {{ streamkap_cdc.cdc_repairs_relation(watermarks) }}
        where kind = 'resnapshot' and table_name = '{{ resnapshot_table }}'
    {%- endset -%}
    {%- set rows = run_query(sql).rows -%}
    {%- set plan = {'change_log': [], 'target': [], 'side': [], 'applied_through_ms': none, 'applied_landed_rows': none,
                    'landed_rows': none, 'held_from_ms': none, 'held_to_ms': none, 'resnapshot_ms': none,
                    'applied_resnapshot_ms': none} -%}
    {#- By position: Snowflake upper-cases the names of result columns. -#}
    {%- set column_rows = [] -%}
    {%- for row in rows if row[2] is not none -%}
        {%- do column_rows.append(row) -%}
    {%- endfor -%}
    {%- for row in column_rows | sort(attribute=2) -%}
        {%- do plan[row[0]].append(api.Column.create(row[1], row[4])) -%}
    {%- endfor -%}
    {%- for row in rows if row[2] is none and row[3] is not none -%}
        {%- do plan.update({row[0]: row[3] | int}) -%}
    {%- endfor -%}
    {{ return(plan) }}
{% endmacro %}


{# A relation's columns, from the engine's metadata (column_name, ordinal_position, data_type). #}
{% macro cdc_columns_metadata(relation) %}
    {{- return(adapter.dispatch('cdc_columns_metadata', 'streamkap_cdc')(relation)) -}}
{% endmacro %}


{% macro default__cdc_columns_metadata(relation) -%}
    (select column_name, ordinal_position, data_type from information_schema.columns
     where table_catalog = '{{ relation.database }}' and table_schema = '{{ relation.schema }}'
       and table_name = '{{ relation.identifier }}')
{%- endmacro %}


{% macro snowflake__cdc_columns_metadata(relation) -%}
    {#- Unquoted identifiers are stored upper-case. -#}
    {#- NUMBER's precision and scale are separate columns: a widened decimal must show. #}
    (select column_name, ordinal_position,
            data_type || coalesce('(' || numeric_precision || ',' || numeric_scale || ')', '') as data_type
     from {{ relation.database }}.information_schema.columns
     where table_schema = '{{ streamkap_cdc.cdc_metadata_name(relation, 'schema') }}'
       and table_name = '{{ streamkap_cdc.cdc_metadata_name(relation, 'identifier') }}')
{%- endmacro %}


{# The number of rows of a table, from metadata: a change log only grows, so a new
   count means new events, whatever their timestamps say. #}
{% macro cdc_row_count_metadata(relation) %}
    {{- return(adapter.dispatch('cdc_row_count_metadata', 'streamkap_cdc')(relation)) -}}
{% endmacro %}


{% macro default__cdc_row_count_metadata(relation) -%}
    select estimated_size from duckdb_tables()
    where database_name = '{{ relation.database }}' and schema_name = '{{ relation.schema }}'
      and table_name = '{{ relation.identifier }}'
{%- endmacro %}


{% macro snowflake__cdc_row_count_metadata(relation) -%}
    select row_count from {{ relation.database }}.information_schema.tables
    where table_schema = '{{ streamkap_cdc.cdc_metadata_name(relation, 'schema') }}'
      and table_name = '{{ streamkap_cdc.cdc_metadata_name(relation, 'identifier') }}'
{%- endmacro %}


{# How Snowflake's metadata spells a part of a relation's name: as written when
   quoted, else upper-case. #}
{% macro cdc_metadata_name(relation, part) %}
    {%- set name = {'schema': relation.schema, 'identifier': relation.identifier}[part] -%}
    {%- set quoted = {'schema': relation.quote_policy.schema, 'identifier': relation.quote_policy.identifier}[part] -%}
    {{- return(name if quoted else name | upper) -}}
{% endmacro %}
