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
        {%- set watermarks = streamkap_cdc.cdc_watermarks_relation(api.Relation.create(database=node.database, schema=node.schema)) %}
create schema if not exists {{ watermarks.without_identifier() }};
create table if not exists {{ watermarks }} (
    table_name varchar,
    applied_through_ms bigint,
    landed_rows bigint,
    applied_at {{ streamkap_cdc.type_timestamp_ntz() }}
);
{#- Added later: a table created before them gains them here. #}
{%- for column in ['held_from_ms', 'held_to_ms', 'resnapshot_ms'] %}
alter table {{ watermarks }} add column if not exists {{ column }} bigint;
{%- endfor %}
{{ streamkap_cdc.cdc_create_repairs_sql(streamkap_cdc.cdc_repairs_relation(watermarks)) }};
    {%- endfor -%}
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
   re-snapshot the target now reflects. `applied_through_ms`: the newest event the run
   read (a history run reads up to a literal, cdc_history_window_spec), recorded as
   is: no read of the change log. #}
{% macro cdc_record_watermark(watermarks, target, change_log, window_start, landed_rows, ts_column='_streamkap_ts_ms',
                              held_back_sql=none, lookback_ms=0, resnapshot_ms=none, applied_through_ms=none) %}
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
                {{ streamkap_cdc.current_utc_timestamp() }} as applied_at
            from (
                {%- if applied_through_ms is not none %}
                select cast({{ applied_through_ms }} as bigint) as newest
                {%- else %}
                select {{ newest }} as newest from {{ change_log }}
                {%- if window_start is not none %}
                where {{ ts_column }} >= {{ window_start }}
                {%- endif %}
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


{# The newest _streamkap_ts_ms in a current-state table (for tables without a watermark yet). #}
{% macro cdc_newest_applied_event(target) %}
    {%- set newest = run_query("select max(_streamkap_ts_ms) from " ~ target).columns[0].values()[0] -%}
    {{ return(none if newest is none else newest | int) }}
{% endmacro %}


{# The landed-rows mark: where an engine whose watermark needs a warehouse to read
   (Snowflake) also records how many rows the change log held when the target last
   applied it, in the target's comment, which SHOW TABLES returns without one (see
   snowflake__cdc_plan, cdc_fleet_status). The watermark stays the record; the mark
   only lets a run that finds nothing new stop before any SELECT. #}
{% macro cdc_marked_landed_rows(comment) %}
    {#- [[] and []]: a bracket each, without a backslash (Jinja would read it as an escape). -#}
    {%- set found = modules.re.search('[[]streamkap_cdc landed_rows=([0-9]+)[]]$', (comment or '') | trim) -%}
    {{ return(none if found is none else found.group(1) | int) }}
{% endmacro %}


{# Sets the mark to `landed_rows`, or removes it (none). `description`: the relation's
   description when persist_docs writes it (the mark follows it in the comment). #}
{% macro cdc_mark_landed_rows(relation, landed_rows, description='') %}
    {{- return(adapter.dispatch('cdc_mark_landed_rows', 'streamkap_cdc')(relation, landed_rows, description)) -}}
{% endmacro %}


{% macro default__cdc_mark_landed_rows(relation, landed_rows, description) %}{% endmacro %}


{% macro snowflake__cdc_mark_landed_rows(relation, landed_rows, description) %}
    {%- set mark = '' if landed_rows is none else '[streamkap_cdc landed_rows=' ~ landed_rows ~ ']' -%}
    {%- set comment = (description or '') ~ ('\n' if description and mark else '') ~ mark -%}
    {#- DDL: cloud services, no warehouse. -#}
    {%- call statement('cdc_mark_landed_rows') -%}
        alter table {{ relation }} set comment = '{{ comment | replace('\\', '\\\\') | replace("'", "''") }}'
    {%- endcall -%}
{% endmacro %}


{# After a run applied events: the mark becomes what the watermark recorded (none when
   events were held back, so the next run happens). #}
{% macro cdc_mark_from_watermark(watermarks, target, description='') %}
    {{- return(adapter.dispatch('cdc_mark_from_watermark', 'streamkap_cdc')(watermarks, target, description)) -}}
{% endmacro %}


{% macro default__cdc_mark_from_watermark(watermarks, target, description) %}{% endmacro %}


{% macro snowflake__cdc_mark_from_watermark(watermarks, target, description) %}
    {%- set rows = run_query("select landed_rows from " ~ watermarks ~ " where table_name = '" ~ target.identifier ~ "'").rows -%}
    {%- set landed = none if rows | length == 0 or rows[0][0] is none else rows[0][0] | int -%}
    {%- do streamkap_cdc.cdc_mark_landed_rows(target, landed, description) -%}
{% endmacro %}
