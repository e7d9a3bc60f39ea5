{# Consumers of change feeds (a model that recomputes only what changed): each keeps a
   mark in `cdc_consumer_marks`, a small table beside it (created when absent), keyed by
   its relation name: the time up to which it has read the feeds (`read_through`) and
   the as-of moment its time-based definitions were computed at (`as_of`). A run reads
   the feed rows with read_through < __cdc_changed_at <= its own start (literal bounds)
   and records the new mark as pending; the on-run-end hook commits it when the consumer
   and its data tests passed (cdc_commit_consumer_marks), so a failed run, or rows that
   failed a test, are read and recomputed (and tested) again by the next run. #}

{% macro cdc_consumer_marks_relation(consumer) %}
    {{ return(api.Relation.create(database=consumer.database, schema=consumer.schema,
                                  identifier='cdc_consumer_marks', type='table')) }}
{% endmacro %}


{# The consumer's committed mark: {'read_through': text or none, 'as_of': text or none,
   'failed_rebuild': whether its last run rebuilt and was not committed (it failed, or a
   data test did), so its rows are not all tested}. #}
{% macro cdc_consumer_mark(consumer) %}
    {%- set marks = streamkap_cdc.cdc_consumer_marks_relation(consumer) -%}
    {%- do streamkap_cdc.cdc_create_consumer_marks(marks) -%}
    {%- set rows = run_query("select cast(read_through as varchar) as read_through, cast(as_of as varchar) as as_of,"
                             ~ " coalesce(pending_rebuild and pending_read_through is distinct from read_through, false)"
                             ~ " as failed_rebuild from " ~ marks ~ " where consumer = '" ~ consumer.identifier ~ "'").rows -%}
    {{ return({'read_through': rows[0][0] if rows else none, 'as_of': rows[0][1] if rows else none,
               'failed_rebuild': rows[0][2] in (true, 'true', 'True', 1) if rows else false}) }}
{% endmacro %}


{# on-run-start: the marks table of every schema holding a model configured
   `cdc_consumer: true` (created here, once, not by consumers running in parallel). #}
{% macro cdc_create_consumer_marks_tables() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set schemas = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.config.get('cdc_consumer') -%}
        {%- do schemas.update({(node.database ~ '.' ~ node.schema): node}) -%}
    {%- endfor -%}
    {%- for node in schemas.values() -%}
        {%- set marks = streamkap_cdc.cdc_consumer_marks_relation(api.Relation.create(database=node.database, schema=node.schema)) %}
create schema if not exists {{ marks.without_identifier() }};
{{ streamkap_cdc.cdc_create_consumer_marks_sql(marks) }};
{#- Added after the first release: marks tables created before it gain the column. #}
alter table {{ marks }} add column if not exists pending_invocation_id varchar;
    {%- endfor -%}
{% endmacro %}


{% macro cdc_create_consumer_marks_sql(marks) -%}
    create table if not exists {{ marks }} (
        consumer varchar,
        read_through {{ streamkap_cdc.type_timestamp_ntz() }},
        as_of {{ streamkap_cdc.type_timestamp_ntz() }},
        pending_read_through {{ streamkap_cdc.type_timestamp_ntz() }},
        pending_as_of {{ streamkap_cdc.type_timestamp_ntz() }},
        pending_rebuild boolean,
        pending_invocation_id varchar
    )
{%- endmacro %}


{# A consumer outside the on-run-start hook (one model run alone) creates it itself. #}
{% macro cdc_create_consumer_marks(marks) %}
    {%- if adapter.get_relation(marks.database, marks.schema, marks.identifier) is none -%}
        {%- call statement('cdc_create_consumer_marks') -%}
            {{ streamkap_cdc.cdc_create_consumer_marks_sql(marks) }}
        {%- endcall -%}
    {%- endif -%}
{% endmacro %}


{# Records the mark a run will commit if it succeeds, and whether it rebuilds. #}
{% macro cdc_set_pending_consumer_mark(consumer, read_through, as_of, rebuild) %}
    {%- set marks = streamkap_cdc.cdc_consumer_marks_relation(consumer) -%}
    {%- do streamkap_cdc.cdc_create_consumer_marks(marks) -%}
    {%- call statement('cdc_set_pending_consumer_mark') -%}
        merge into {{ marks }} as mark
        using (
            select
                '{{ consumer.identifier }}' as consumer,
                {{ streamkap_cdc.cdc_timestamp_literal(read_through) }} as pending_read_through,
                {{ streamkap_cdc.cdc_timestamp_literal(as_of) }} as pending_as_of,
                {{ 'true' if rebuild else 'false' }} as pending_rebuild,
                '{{ invocation_id }}' as pending_invocation_id
        ) as pending
            on mark.consumer = pending.consumer
        when matched then update set
            pending_read_through = pending.pending_read_through,
            pending_as_of = pending.pending_as_of,
            pending_rebuild = pending.pending_rebuild,
            pending_invocation_id = pending.pending_invocation_id
        when not matched then insert (consumer, pending_read_through, pending_as_of, pending_rebuild, pending_invocation_id)
            values (pending.consumer, pending.pending_read_through, pending.pending_as_of, pending.pending_rebuild,
                    pending.pending_invocation_id)
    {%- endcall -%}
{% endmacro %}


{# Whether the pending run rebuilds (read by the consumer's write step). #}
{% macro cdc_pending_rebuild(consumer) %}
    {%- set rows = run_query("select pending_rebuild from " ~ streamkap_cdc.cdc_consumer_marks_relation(consumer)
                             ~ " where consumer = '" ~ consumer.identifier ~ "'").rows -%}
    {{ return(rows | length > 0 and rows[0][0] in (true, 'true', 'True', 1)) }}
{% endmacro %}


{# on-run-end: commits the pending mark of every consumer that this invocation ran
   successfully and whose data tests neither failed nor errored (a warning passes). A
   consumer left uncommitted reads the same changes again on its next run, so rows that
   failed a test are recomputed and tested again rather than forgotten. #}
{% macro cdc_commit_consumer_marks(results) %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set failed = [] -%}
    {%- for result in results if result.node.resource_type == 'test' and result.status in ('fail', 'error') -%}
        {%- do failed.extend(result.node.depends_on.nodes) -%}
    {%- endfor -%}
    {%- set by_marks = {} -%}
    {%- for result in results if result.node.resource_type == 'model' and result.node.config.get('cdc_consumer')
                               and result.status == 'success' and result.node.unique_id not in failed -%}
        {%- set marks = streamkap_cdc.cdc_consumer_marks_relation(
            api.Relation.create(database=result.node.database, schema=result.node.schema)) -%}
        {%- do by_marks.setdefault(marks | string, []).append("'" ~ result.node.alias ~ "'") -%}
    {%- endfor -%}
    {%- for marks, consumers in by_marks.items() %}
update {{ marks }}
set read_through = pending_read_through, as_of = pending_as_of
where consumer in ({{ consumers | join(', ') }}) and pending_invocation_id = '{{ invocation_id }}';
    {%- endfor -%}
{% endmacro %}


{# Whether the consumer's marks table exists (not before the first run: `dbt compile` on a
   new warehouse runs no hook). #}
{% macro cdc_consumer_marks_exist(consumer) %}
    {%- set marks = streamkap_cdc.cdc_consumer_marks_relation(consumer) -%}
    {{ return(adapter.get_relation(marks.database, marks.schema, marks.identifier) is not none) }}
{% endmacro %}


{# Whether the consumer has read every change of its feeds' current-state `relations`:
   no feed row (a reset included) lies after its mark, the pending one when this
   invocation ran it, else the committed one. A reader that looks rows up in the
   consumer (an index) can then trust it without running it. #}
{% macro cdc_consumer_is_current(consumer, relations) %}
    {%- if not streamkap_cdc.cdc_consumer_marks_exist(consumer) -%}{{ return(false) }}{%- endif -%}
    {%- set rows = run_query("select case when pending_invocation_id = '" ~ invocation_id
                             ~ "' then cast(pending_read_through as varchar) else cast(read_through as varchar) end"
                             ~ " as read_through from " ~ streamkap_cdc.cdc_consumer_marks_relation(consumer)
                             ~ " where consumer = '" ~ consumer.identifier ~ "'").rows -%}
    {%- if not rows or rows[0][0] is none -%}{{ return(false) }}{%- endif -%}
    {%- set parts = [] -%}
    {%- for relation in relations -%}
        {%- set feed = streamkap_cdc.cdc_change_feed_relation(relation) -%}
        {%- if adapter.get_relation(feed.database, feed.schema, feed.identifier) is none -%}{{ return(false) }}{%- endif -%}
        {%- do parts.append("select count(*) as later from " ~ feed ~ " where __cdc_changed_at > "
                            ~ streamkap_cdc.cdc_timestamp_literal(rows[0][0])) -%}
    {%- endfor -%}
    {%- set later = run_query("select sum(later) as later from (" ~ parts | join(' union all ') ~ ") as feeds").rows -%}
    {{ return(later[0][0] == 0) }}
{% endmacro %}


{# Whether the consumer's rows recomputed by this invocation are all that changed in it:
   its run here read changes (not a rebuild). Its data tests then read only those rows
   (the project's get_where_subquery); the rest were tested by the runs that wrote them. #}
{% macro cdc_consumer_recomputed_in_this_run(consumer) %}
    {%- if not streamkap_cdc.cdc_consumer_marks_exist(consumer) -%}{{ return(false) }}{%- endif -%}
    {%- set rows = run_query("select pending_rebuild from " ~ streamkap_cdc.cdc_consumer_marks_relation(consumer)
                             ~ " where consumer = '" ~ consumer.identifier ~ "' and pending_invocation_id = '"
                             ~ invocation_id ~ "'").rows -%}
    {{ return(rows | length > 0 and rows[0][0] not in (true, 'true', 'True', 1)) }}
{% endmacro %}


{# A literal timestamp (text as read back from the warehouse), or NULL. #}
{% macro cdc_timestamp_literal(text) -%}
    {%- if text is none -%}cast(null as {{ streamkap_cdc.type_timestamp_ntz() }})
    {%- else -%}cast('{{ text }}' as {{ streamkap_cdc.type_timestamp_ntz() }}){%- endif -%}
{%- endmacro %}


{# Why a consumer whose feeds are `relations` (current-state relations) and whose mark
   is `read_through` must rebuild rather than read changes until `until`, or none:
   no mark, a mark older than the feeds' retention, a feed that does not exist, or a
   feed reset (created, or its current state rebuilt) after the mark. #}
{% macro cdc_feed_rebuild_reason(relations, read_through, until) %}
    {%- if read_through is none -%}{{ return('no previous run') }}{%- endif -%}
    {%- set parts = ["select 'retention' as reason, count(*) as found from (select 1 as one) as one where "
                     ~ streamkap_cdc.cdc_timestamp_literal(read_through) ~ " < "
                     ~ dbt.dateadd('hour', -streamkap_cdc.cdc_change_feed_retention_hours(),
                                   streamkap_cdc.cdc_timestamp_literal(until))] -%}
    {%- for relation in relations -%}
        {%- set feed = streamkap_cdc.cdc_change_feed_relation(relation) -%}
        {%- if adapter.get_relation(feed.database, feed.schema, feed.identifier) is none -%}
            {{ return('no change feed ' ~ feed ~ ' (set cdc_change_feed: true on ' ~ relation.identifier ~ ')') }}
        {%- endif -%}
        {%- do parts.append("select '" ~ feed ~ " reset' as reason, count(*) as found from " ~ feed ~ " where __cdc_reset and "
                            ~ streamkap_cdc.cdc_changes_bounds(read_through, until)) -%}
    {%- endfor -%}
    {%- for row in run_query(parts | join('\nunion all\n')).rows if row[1] > 0 -%}
        {{ return(row[0]) }}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{% macro cdc_changes_bounds(since, until) -%}
    __cdc_changed_at > {{ streamkap_cdc.cdc_timestamp_literal(since) }}
    and __cdc_changed_at <= {{ streamkap_cdc.cdc_timestamp_literal(until) }}
{%- endmacro %}


{# SQL of the before images the feed of `relation` (a current-state relation) recorded
   after `since` and up to `until` (literals), one row per key and run. #}
{% macro cdc_changes_since(relation, since, until) -%}
    select *
    from {{ streamkap_cdc.cdc_change_feed_relation(relation) }}
    where not __cdc_reset and {{ streamkap_cdc.cdc_changes_bounds(since, until) }}
{%- endmacro %}
