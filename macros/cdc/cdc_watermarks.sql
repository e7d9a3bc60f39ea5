{# Watermarks: per current-state table, how far its change log has been applied.
   They live in one small table beside the current-state tables, so neither the
   window of a run nor the question "did anything land?" depends on which rows the
   current state still holds (deletes remove rows; they must not move the window). #}

{% macro cdc_watermarks_relation(relation) %}
    {{ return(api.Relation.create(database=relation.database, schema=relation.schema,
                                  identifier='cdc_watermarks', type='table')) }}
{% endmacro %}


{# on-run-start: the watermarks and repairs tables of every schema holding
   current-state or history models (created here, once, not by models running in
   parallel). #}
{% macro cdc_create_watermarks() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set schemas = {} -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.materialized in ('cdc_current_state', 'cdc_history') -%}
        {%- do schemas.update({(node.database ~ '.' ~ node.schema): node}) -%}
    {%- endfor -%}
    {%- for node in schemas.values() -%}
        {%- set watermarks = cdc_watermarks_relation(api.Relation.create(database=node.database, schema=node.schema)) %}
create schema if not exists {{ watermarks.without_identifier() }};
create table if not exists {{ watermarks }} (
    table_name varchar,
    applied_through_ms bigint,
    landed_rows bigint,
    applied_at {{ type_timestamp_ntz() }}
);
{#- Added later: a table created before them gains them here. #}
{%- for column in ['held_from_ms', 'held_to_ms', 'resnapshot_ms'] %}
alter table {{ watermarks }} add column if not exists {{ column }} bigint;
{%- endfor %}
{{ cdc_create_repairs_sql(cdc_repairs_relation(watermarks)) }};
    {%- endfor -%}
{% endmacro %}


{# One statement telling a run what it needs: the change log's columns, the target's
   (current state or history) columns (none when it does not exist), the watermark with
   the commit times the last run held back, the start of the table's last re-snapshot
   (cdc_repairs) and the one the target reflects, and how many rows the change log holds
   now (from table metadata, never a scan). Returns a dict. #}
{% macro cdc_plan(change_log, target, watermarks, resnapshot_table) %}
    {%- set sql -%}
        select 'change_log' as part, column_name as name, ordinal_position as position, cast(null as bigint) as value,
               data_type
        from {{ cdc_columns_metadata(change_log) }}
        union all
        select 'target', column_name, ordinal_position, null, data_type
        from {{ cdc_columns_metadata(target) }}
        union all
        select 'applied_through_ms', null, null, applied_through_ms, null from {{ watermarks }}
        where table_name = '{{ target.identifier }}'
        union all
        select 'applied_landed_rows', null, null, landed_rows, null from {{ watermarks }}
        where table_name = '{{ target.identifier }}'
        union all
        select 'landed_rows', null, null, ({{ cdc_row_count_metadata(change_log) }}), null
        {%- for column in ['held_from_ms', 'held_to_ms', 'resnapshot_ms'] %}
        union all
        select '{{ 'applied_' if column == 'resnapshot_ms' }}{{ column }}', null, null, {{ column }}, null from {{ watermarks }}
        where table_name = '{{ target.identifier }}'
        {%- endfor %}
        union all
        select 'resnapshot_ms', null, null, max(snapshot_started_at_ms), null from {{ cdc_repairs_relation(watermarks) }}
        where kind = 'resnapshot' and table_name = '{{ resnapshot_table }}'
    {%- endset -%}
    {%- set rows = run_query(sql).rows -%}
    {%- set plan = {'change_log': [], 'target': [], 'applied_through_ms': none, 'applied_landed_rows': none,
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
    {{- return(adapter.dispatch('cdc_columns_metadata')(relation)) -}}
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
     where table_schema = '{{ cdc_metadata_name(relation, 'schema') }}'
       and table_name = '{{ cdc_metadata_name(relation, 'identifier') }}')
{%- endmacro %}


{# The number of rows of a table, from metadata: a change log only grows, so a new
   count means new events, whatever their timestamps say. #}
{% macro cdc_row_count_metadata(relation) %}
    {{- return(adapter.dispatch('cdc_row_count_metadata')(relation)) -}}
{% endmacro %}

{% macro default__cdc_row_count_metadata(relation) -%}
    select estimated_size from duckdb_tables()
    where database_name = '{{ relation.database }}' and schema_name = '{{ relation.schema }}'
      and table_name = '{{ relation.identifier }}'
{%- endmacro %}

{% macro snowflake__cdc_row_count_metadata(relation) -%}
    select row_count from {{ relation.database }}.information_schema.tables
    where table_schema = '{{ cdc_metadata_name(relation, 'schema') }}'
      and table_name = '{{ cdc_metadata_name(relation, 'identifier') }}'
{%- endmacro %}


{# How Snowflake's metadata spells a part of a relation's name: as written when
   quoted, else upper-case. #}
{% macro cdc_metadata_name(relation, part) %}
    {%- set name = {'schema': relation.schema, 'identifier': relation.identifier}[part] -%}
    {%- set quoted = {'schema': relation.quote_policy.schema, 'identifier': relation.quote_policy.identifier}[part] -%}
    {{- return(name if quoted else name | upper) -}}
{% endmacro %}


{# Records a run: the change log is applied through its newest event (read from the
   window only), and counted `landed_rows` rows when the run began, so rows landing
   meanwhile make the next run apply them. `ts_column`: the change log's spelling of
   _streamkap_ts_ms (see cdc_log_column). A rebuild (`window_start` none) starts clean:
   the watermark becomes the log's newest event, or none for an empty log.

   `held_back_sql` (current state only, cdc_held_back_events): the window's events that
   wait a run. When there are any, the watermark keeps the next window starting at the
   first event of their keys in this one (never further back), their commit times are
   recorded for the next run's lookup of their originals, and landed_rows is left empty
   so the next run happens whether or not anything lands. `resnapshot_ms`: the
   re-snapshot the target now reflects. #}
{% macro cdc_record_watermark(watermarks, target, change_log, window_start, landed_rows, ts_column='_streamkap_ts_ms',
                              held_back_sql=none, lookback_ms=0, resnapshot_ms=none) %}
    {%- set newest = 'max(' ~ ts_column ~ ')' -%}
    {%- set landed = 'cast(' ~ (landed_rows if landed_rows is not none else 'null') ~ ' as bigint)' -%}
    {%- call statement('cdc_record_watermark') -%}
        merge into {{ watermarks }} as watermark
        using (
            select
                '{{ target.identifier }}' as table_name,
                {%- if held_back_sql %}
                case when held.events > 0 then least(applied.newest, held.first_ms + {{ lookback_ms }})
                    else applied.newest end as applied_through_ms,
                case when held.events > 0 then cast(null as bigint) else {{ landed }} end as landed_rows,
                held.from_ms as held_from_ms,
                held.to_ms as held_to_ms,
                {%- else %}
                applied.newest as applied_through_ms,
                {{ landed }} as landed_rows,
                cast(null as bigint) as held_from_ms,
                cast(null as bigint) as held_to_ms,
                {%- endif %}
                cast({{ resnapshot_ms if resnapshot_ms is not none else 'null' }} as bigint) as resnapshot_ms,
                {{ current_utc_timestamp() }} as applied_at
            from (
                select {{ newest }} as newest from {{ change_log }}
                {%- if window_start is not none %}
                where {{ ts_column }} >= {{ window_start }}
                {%- endif %}
            ) as applied
            {%- if held_back_sql %}
            cross join (
                select count(*) as events, min(first_ms) as first_ms, min(commit_ms) as from_ms, max(commit_ms) as to_ms
                from (
{{ held_back_sql }}
                ) as held_back
            ) as held
            {%- endif %}
        ) as applied
            on watermark.table_name = applied.table_name
        when matched then update set
            {#- A window with no event keeps the watermark; a rebuild replaces it. #}
            applied_through_ms = {{ 'applied.applied_through_ms' if window_start is none
                                    else 'coalesce(applied.applied_through_ms, watermark.applied_through_ms)' }},
            landed_rows = applied.landed_rows,
            held_from_ms = applied.held_from_ms,
            held_to_ms = applied.held_to_ms,
            resnapshot_ms = applied.resnapshot_ms,
            applied_at = applied.applied_at
        when not matched then insert (table_name, applied_through_ms, landed_rows, held_from_ms, held_to_ms, resnapshot_ms,
                                      applied_at)
            values (applied.table_name, applied.applied_through_ms, applied.landed_rows, applied.held_from_ms,
                    applied.held_to_ms, applied.resnapshot_ms, applied.applied_at)
    {%- endcall -%}
{% endmacro %}


{# run-operation for the project's runner (magento_warehouse.runner.change_check), which decides
   from the answer which current-state models have events to apply. Two metadata
   queries for the whole fleet, however many tables: the tables of the given schemas
   with their row counts, then the watermarks of the target schemas that have them.
   Each answers one aggregated string, not a row per table: a fleet's thousands of
   result rows would cost the run more than the queries. Logs one line:
   'cdc_fleet_status: {"tables": "...", "applied": "..."}', each a newline-separated
   list of 'database.schema<TAB>table<TAB>rows' (landed_rows for "applied"), names
   lower-cased, rows empty when unknown. #}
{% macro cdc_fleet_status(schemas, target_schemas) %}
    {%- set parts = [] -%}
    {%- for schema in schemas -%}
        {%- set relation = api.Relation.create(database=schema['database'], schema=schema['schema']) -%}
        {%- do parts.append("select lower(" ~ dbt.string_literal(schema['database'] ~ '.' ~ schema['schema'])
            ~ ") as schema_name, lower(table_name) as table_name, row_count from ("
            ~ cdc_schema_row_counts(relation) ~ ") as t") -%}
    {%- endfor -%}
    {%- set tables = cdc_fleet_status_list(parts) -%}
    {%- set parts = [] -%}
    {%- for schema in target_schemas -%}
        {%- set key = (schema['database'] ~ '.' ~ schema['schema']) | lower -%}
        {%- if ('\n' ~ key ~ '\tcdc_watermarks\t') in ('\n' ~ tables) -%}
            {%- set watermarks = cdc_watermarks_relation(api.Relation.create(database=schema['database'], schema=schema['schema'])) -%}
            {%- do parts.append("select lower(" ~ dbt.string_literal(key)
                ~ ") as schema_name, lower(table_name) as table_name, landed_rows as row_count from " ~ watermarks) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set applied = cdc_fleet_status_list(parts) if parts else '' -%}
    {{ log('cdc_fleet_status: ' ~ tojson({'tables': tables, 'applied': applied}), info=true) }}
{% endmacro %}

{# The rows of the union of `parts` (schema_name, table_name, row_count) as one string. #}
{% macro cdc_fleet_status_list(parts) %}
    {%- set row = "schema_name || '\t' || table_name || '\t' || coalesce(cast(row_count as varchar), '')" -%}
    {%- set sql = "select " ~ dbt.listagg(row, "'\n'") ~ " from (\n" ~ parts | join('\nunion all\n') ~ "\n) as fleet" -%}
    {{ return(run_query(sql).columns[0].values()[0] or '') }}
{% endmacro %}


{# The tables of a schema with their row counts, from metadata (table_name, row_count). #}
{% macro cdc_schema_row_counts(schema_relation) %}
    {{- return(adapter.dispatch('cdc_schema_row_counts')(schema_relation)) -}}
{% endmacro %}

{% macro default__cdc_schema_row_counts(schema_relation) -%}
    select table_name, estimated_size as row_count from duckdb_tables()
    where database_name = '{{ schema_relation.database }}' and schema_name = '{{ schema_relation.schema }}'
{%- endmacro %}

{% macro snowflake__cdc_schema_row_counts(schema_relation) -%}
    select table_name, row_count from {{ schema_relation.database }}.information_schema.tables
    where table_schema = '{{ cdc_metadata_name(schema_relation, 'schema') }}'
{%- endmacro %}
