{# The change feed of a current-state model (config `cdc_change_feed: true`): beside the
   current state, `<table>__changes` holds, per applied batch, one row per key of the
   batch with the row's values BEFORE the merge (NULLs but the key when the key had no
   row), stamped with the run's time (`__cdc_changed_at`) and whether a row existed
   (`__cdc_row_existed`). After images are the current state itself. A consumer reads
   the keys changed since its previous run (cdc_changes_since) instead of re-reading
   whole tables. A row with `__cdc_reset` marks a feed that starts over (created, or its
   current state rebuilt): a consumer whose previous run is older rebuilds. #}

{% macro cdc_change_feed_relation(relation) %}
    {{ return(api.Relation.create(database=relation.database, schema=relation.schema,
                                  identifier=relation.identifier ~ '__changes', type='table')) }}
{% endmacro %}


{# Whether the model records a change feed (config cdc_change_feed, a boolean). #}
{% macro cdc_change_feed_enabled() %}
    {%- set enabled = config.get('cdc_change_feed', false) -%}
    {%- if enabled not in (true, false) -%}
        {{ exceptions.raise_compiler_error("cdc_change_feed of model " ~ model.name ~ " must be true or false; got '"
                                           ~ enabled ~ "'.") }}
    {%- endif -%}
    {{ return(enabled) }}
{% endmacro %}


{# How long feed rows are kept (var cdc_change_feed_retention_hours, default 72). #}
{% macro cdc_change_feed_retention_hours() %}
    {%- set hours = var('cdc_change_feed_retention_hours', 72) -%}
    {%- if hours is not number or hours <= 0 -%}
        {{ exceptions.raise_compiler_error("var cdc_change_feed_retention_hours must be a positive number of hours; got '"
                                           ~ hours ~ "'.") }}
    {%- endif -%}
    {{ return(hours) }}
{% endmacro %}


{# The feed's row for a reset: no key, `__cdc_reset` true, so consumers that ran before
   it rebuild from the current state. #}
{% macro cdc_change_feed_reset_sql(feed, target) -%}
    insert into {{ feed }} (__cdc_changed_at, __cdc_row_existed, __cdc_reset)
    values ({{ streamkap_cdc.cdc_change_feed_clock() }}, false, true)
{%- endmacro %}


{# The time a run records its feed rows at, read once and written as a literal: every
   row of the run carries the same time, and the statements mean the same when replayed. #}
{% macro cdc_change_feed_clock() %}
    {%- set now = run_query("select cast(" ~ streamkap_cdc.current_utc_timestamp() ~ " as varchar) as now_text") -%}
    {{ return(streamkap_cdc.cdc_timestamp_literal(now.rows[0][0])) }}
{% endmacro %}


{# A rebuild of the current state (first run, --full-refresh): the feed starts over
   empty but for its reset row, with the current state's columns. #}
{% macro cdc_change_feed_reset(target) %}
    {%- set feed = streamkap_cdc.cdc_change_feed_relation(target) -%}
    {%- call statement('cdc_change_feed_reset') -%}
        create or replace table {{ feed }} as
        select
            current_state.*,
            cast(null as {{ streamkap_cdc.type_timestamp_ntz() }}) as __cdc_changed_at,
            cast(null as boolean) as __cdc_row_existed,
            cast(null as boolean) as __cdc_reset
        from {{ target }} as current_state
        where 1 = 0
    {%- endcall -%}
    {%- call statement('cdc_change_feed_reset_row') -%}
        {{ streamkap_cdc.cdc_change_feed_reset_sql(feed, target) }}
    {%- endcall -%}
{% endmacro %}


{# Before the MERGE of `batch_sql`: prunes rows older than the retention and records the
   before image of every key the MERGE will change, under the MERGE's own conditions
   (cdc_merge_applies, cdc_merge_inserts), so the events a run re-reads in its lookback
   are not recorded again. A feed that does not exist yet is created (with its reset
   row). `columns`: the target's columns (the plan's); `log_columns`, `offset_resets`,
   `hold_back`, `resnapshot_ms`: the MERGE's arguments; `added`: columns the run just
   added to the target, added to the feed too. #}
{% macro cdc_change_feed_record(target, batch_sql, key_names, columns, log_columns, offset_resets=[], hold_back=false,
                                resnapshot_ms=none, added=[]) %}
    {%- set feed = streamkap_cdc.cdc_change_feed_relation(target) -%}
    {%- set keys = [] -%}
    {%- for name in key_names %}{% do keys.append(streamkap_cdc.cdc_state_column(name)) %}{% endfor -%}
    {%- set names = [] -%}
    {%- for column in columns %}{% do names.append(streamkap_cdc.cdc_state_column(column.name)) %}{% endfor -%}
    {%- if adapter.get_relation(feed.database, feed.schema, feed.identifier) is none -%}
        {%- do streamkap_cdc.cdc_change_feed_reset(target) -%}
    {%- endif -%}
    {%- for column in added -%}
        {%- call statement('cdc_change_feed_add_column') -%}
            alter table {{ feed }} add column if not exists {{ streamkap_cdc.cdc_state_column(column.name) }} {{ column.data_type }}
        {%- endcall -%}
    {%- endfor -%}
    {%- set now = streamkap_cdc.cdc_change_feed_clock() -%}
    {%- call statement('cdc_change_feed_prune') -%}
        delete from {{ feed }}
        where __cdc_changed_at < {{ dbt.dateadd('hour', -streamkap_cdc.cdc_change_feed_retention_hours(), now) }}
    {%- endcall -%}
    {%- call statement('cdc_change_feed_record') -%}
        insert into {{ feed }} ({{ names | join(', ') }}, __cdc_changed_at, __cdc_row_existed, __cdc_reset)
        select
            {%- for name in names %}
            {{ 'incoming.' if name in keys else 'current_state.' }}{{ name }},
            {%- endfor %}
            {{ now }},
            current_state.{{ keys[0] }} is not null,
            false
        from (
{{ batch_sql }}
        ) as incoming
        left join {{ target }} as current_state
            on {{ streamkap_cdc.cdc_same_key('current_state', 'incoming', keys) }}
        where
            (current_state.{{ keys[0] }} is not null{{ streamkap_cdc.cdc_merge_applies(log_columns, offset_resets, hold_back) }})
            or (current_state.{{ keys[0] }} is null and {{ streamkap_cdc.cdc_merge_inserts(hold_back, resnapshot_ms) }})
    {%- endcall -%}
{% endmacro %}
