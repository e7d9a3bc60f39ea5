{# One answer telling a run what it needs: the change log's columns, the target's
   (current state or history) columns (none when it does not exist), the watermark with
   the commit times the last run held back, the start of the table's last re-snapshot
   (cdc_repairs) and the one the target reflects, and how many rows the change log holds
   now (from table metadata, never a scan); and the columns of `side`, a relation the
   materialization keeps beside the target (none: no such relation). Returns a dict;
   `target_exists` tells whether the target exists. `may_skip`: the run skips when
   nothing landed (not a rebuild or a repair), so an engine whose catalog needs no
   warehouse may answer from metadata alone (see snowflake__cdc_plan). #}
{% macro cdc_plan(change_log, target, watermarks, resnapshot_table, side=none, may_skip=false) %}
    {{- return(adapter.dispatch('cdc_plan', 'streamkap_cdc')(change_log, target, watermarks, resnapshot_table,
                                                              side, may_skip)) -}}
{% endmacro %}


{# One statement over the engine's catalog and the watermarks table. #}
{% macro default__cdc_plan(change_log, target, watermarks, resnapshot_table, side, may_skip) %}
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
    {%- do plan.update({'target_exists': plan['target'] | length > 0}) -%}
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


{# Snowflake: SHOW statements, which cloud services answer without a running warehouse
   (a SELECT, INFORMATION_SCHEMA's included, resumes it, billed 60 s at least). SHOW
   TABLES gives the change log's `rows` (exact for a standard table) and the target's
   comment, where the last run recorded the rows it applied through (cdc_mark_landed_rows).
   When the two agree and the run may skip, nothing else is sent; otherwise the watermark
   and the re-snapshot are read as on any engine (the run resumes the warehouse anyway). #}
{% macro snowflake__cdc_plan(change_log, target, watermarks, resnapshot_table, side, may_skip) %}
    {%- set log_table = streamkap_cdc.cdc_show_table(change_log) -%}
    {%- set target_table = streamkap_cdc.cdc_show_table(target) -%}
    {%- set marked = none if target_table is none else streamkap_cdc.cdc_marked_landed_rows(target_table['comment']) -%}
    {%- set plan = {'change_log': [], 'target': [], 'side': [], 'applied_through_ms': none, 'applied_landed_rows': none,
                    'landed_rows': none if log_table is none else log_table['rows'], 'held_from_ms': none,
                    'held_to_ms': none, 'resnapshot_ms': none, 'applied_resnapshot_ms': none,
                    'target_exists': target_table is not none, 'marked_landed_rows': marked} -%}
    {%- if log_table is not none -%}
        {%- do plan.update({'change_log': streamkap_cdc.cdc_show_columns(change_log)}) -%}
    {%- endif -%}
    {#- The side relation's columns tell whether it exists (a missing one rebuilds). -#}
    {%- if side is not none and streamkap_cdc.cdc_show_table(side) is not none -%}
        {%- do plan.update({'side': streamkap_cdc.cdc_show_columns(side)}) -%}
    {%- endif -%}
    {%- if may_skip and marked is not none and marked == plan['landed_rows'] -%}
        {#- A re-snapshot applied since (cdc_apply_resnapshot) removed the mark. -#}
        {%- do plan.update({'applied_landed_rows': marked}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- if target_table is not none -%}
        {%- do plan.update({'target': streamkap_cdc.cdc_show_columns(target)}) -%}
    {%- endif -%}
    {%- set sql -%}
        select 'resnapshot_ms' as part, max(snapshot_started_at_ms) as value
        from {{ streamkap_cdc.cdc_repairs_relation(watermarks) }}
        where kind = 'resnapshot' and table_name = '{{ resnapshot_table }}'
        {%- for part, column in [('applied_through_ms', 'applied_through_ms'), ('applied_landed_rows', 'landed_rows'),
                                 ('held_from_ms', 'held_from_ms'), ('held_to_ms', 'held_to_ms'),
                                 ('applied_resnapshot_ms', 'resnapshot_ms')] %}
        union all
        select '{{ part }}', {{ column }} from {{ watermarks }} where table_name = '{{ target.identifier }}'
        {%- endfor %}
    {%- endset -%}
    {%- for row in run_query(sql).rows if row[1] is not none -%}
        {%- do plan.update({row[0]: row[1] | int}) -%}
    {%- endfor -%}
    {{ return(plan) }}
{% endmacro %}


{# A table as SHOW TABLES describes it ({'name', 'rows', 'comment'}), or none when it
   does not exist. LIKE matches `_` as any character: the name is compared after. #}
{% macro cdc_show_table(relation) %}
    {%- set name = streamkap_cdc.cdc_metadata_name(relation, 'identifier') -%}
    {%- set schema = api.Relation.create(database=relation.database, schema=relation.schema) -%}
    {%- for table in streamkap_cdc.cdc_show_rows("show tables like '" ~ name ~ "' in schema " ~ schema)
            if table['name'] == name -%}
        {{ return({'name': table['name'], 'rows': none if table['rows'] is none else table['rows'] | int,
                   'comment': table['comment']}) }}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{# A relation's columns as SHOW COLUMNS lists them, in the table's order, typed as
   INFORMATION_SCHEMA.COLUMNS spells them (NUMBER with its precision and scale, so a
   widened decimal shows). SHOW COLUMNS gives each type as JSON. #}
{% macro cdc_show_columns(relation) %}
    {%- set columns = [] -%}
    {%- for column in streamkap_cdc.cdc_show_rows("show columns in table " ~ relation) -%}
        {%- set type = fromjson(column['data_type']) -%}
        {%- set name = {'FIXED': 'NUMBER(' ~ type.get('precision') ~ ',' ~ type.get('scale') ~ ')', 'REAL': 'FLOAT'}
                       .get(type['type'], type['type']) -%}
        {%- do columns.append(api.Column.create(column['column_name'], name)) -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{# The rows of a SHOW statement as dicts by column name: Snowflake names SHOW's output
   columns in quoted lower case ("rows", "comment"); looked up in lower case all the same. #}
{% macro cdc_show_rows(sql) %}
    {%- set result = run_query(sql) -%}
    {%- set names = result.column_names | map('lower') | list -%}
    {%- set rows = [] -%}
    {%- for row in result.rows -%}
        {%- set named = {} -%}
        {%- for name in names -%}{%- do named.update({name: row[loop.index0]}) -%}{%- endfor -%}
        {%- do rows.append(named) -%}
    {%- endfor -%}
    {{ return(rows) }}
{% endmacro %}


{# How Snowflake's metadata spells a part of a relation's name: as written when
   quoted, else upper-case. #}
{% macro cdc_metadata_name(relation, part) %}
    {%- set name = {'schema': relation.schema, 'identifier': relation.identifier}[part] -%}
    {%- set quoted = {'schema': relation.quote_policy.schema, 'identifier': relation.quote_policy.identifier}[part] -%}
    {{- return(name if quoted else name | upper) -}}
{% endmacro %}
