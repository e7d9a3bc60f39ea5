{# The materialization of current-state models (see cdc_current_state). A run that
   finds new rows in the change log sends, in steady state:
     1. the plan (columns, watermark, row count of the change log: metadata only),
     2. the MERGE of the newest event of each key since the watermark minus the lookback,
     3. the folder's post-hook,
     4. the new watermark.
   A run that finds nothing new stops after the plan. The first run, --full-refresh and
   a missing table rebuild from the whole change log. #}
{% materialization cdc_current_state, default %}
    {%- set change_log_config = config.require('cdc_change_log') -%}
    {%- set change_log = source(change_log_config['source_name'], change_log_config['table_name']) -%}
    {%- set key_names = config.require('unique_key') -%}
    {%- set lookback_ms = (config.get('cdc_lookback_minutes') * 60000) | int -%}
    {%- set offset_resets = cdc_offset_resets(change_log_config['table_name']) -%}
    {%- set target = this.incorporate(type='table') -%}
    {%- set watermarks = cdc_watermarks_relation(target) -%}
    {%- set repairs = cdc_repairs_relation(target) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {#- Whether the table exists comes from the plan too: looking it up in dbt's relation
        cache scans every relation of the schema, for each model of the fleet. -#}
    {%- set plan = cdc_plan(change_log, target, watermarks, change_log_config['table_name']) -%}
    {%- set existing = plan['target'] | length > 0 -%}
    {%- set full_refresh = not existing or should_full_refresh() -%}
    {%- set repair = not full_refresh and cdc_repair_mode() -%}
    {%- set log_columns = cdc_checked_columns(plan['change_log'], key_names, change_log) -%}
    {%- set ts_column = cdc_log_column(log_columns, '_streamkap_ts_ms') -%}
    {%- set resnapshot_ms = plan['resnapshot_ms'] -%}

    {%- if not full_refresh and plan['landed_rows'] is not none
            and plan['landed_rows'] == plan['applied_landed_rows'] -%}
        {#- Nothing landed since the last run: no statement beyond the plan. -#}
        {%- do store_raw_result('main', message='NO NEW EVENTS', code='NOOP', rows_affected=0) -%}
    {%- elif full_refresh -%}
        {%- call statement('main') -%}
            {{ cdc_create_table_as(target, cdc_latest_events(change_log, key_names, log_columns,
                                                             offset_resets=offset_resets, resnapshot_ms=resnapshot_ms)) }}
        {%- endcall -%}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {%- do cdc_record_watermark(watermarks, target, change_log, none, plan['landed_rows'], ts_column) -%}
    {%- else -%}
        {%- set applied_through_ms = plan['applied_through_ms'] -%}
        {%- if applied_through_ms is none -%}
            {#- No watermark (a table built before watermarks were kept, or rebuilt from an
                empty log): start from its newest event, or from the start of the log. -#}
            {%- set applied_through_ms = cdc_newest_applied_event(target) -%}
        {%- endif -%}
        {%- do cdc_add_new_columns(target, change_log, log_columns, plan['target']) -%}
        {%- if applied_through_ms is none -%}
            {%- call statement('main') -%}
                {{ cdc_merge_sql(target, cdc_latest_events(change_log, key_names, log_columns, offset_resets=offset_resets,
                                                           resnapshot_ms=resnapshot_ms),
                                 log_columns, key_names, offset_resets) }}
            {%- endcall -%}
            {{ run_hooks(post_hooks, inside_transaction=True) }}
            {%- do cdc_record_watermark(watermarks, target, change_log, none, plan['landed_rows'], ts_column) -%}
        {%- else -%}
            {%- set window_start = applied_through_ms - lookback_ms -%}
            {%- set held_range = none if plan['held_from_ms'] is none else [plan['held_from_ms'], plan['held_to_ms']] -%}
            {%- call statement('main') -%}
                {#- The lookback also bounds the clock skew between MySQL and Streamkap. -#}
                {{ cdc_merge_sql(target, cdc_latest_events(change_log, key_names, log_columns, window_start, lookback_ms,
                                                           offset_resets, held_range=held_range, target=target),
                                 log_columns, key_names, offset_resets, hold_back=true, resnapshot_ms=resnapshot_ms) }}
            {%- endcall -%}
            {{ run_hooks(post_hooks, inside_transaction=True) }}
            {%- do cdc_record_watermark(watermarks, target, change_log, window_start, plan['landed_rows'], ts_column,
                                        cdc_held_back_events(change_log, target, key_names, log_columns, window_start,
                                                             lookback_ms, offset_resets, held_range),
                                        lookback_ms) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if repair -%}
        {%- do cdc_repair_late_events(target, change_log, change_log_config['table_name'], key_names, log_columns,
                                      offset_resets, repairs, resnapshot_ms) -%}
    {%- endif -%}

    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {#- Both send statements only when the model configures grants or persist_docs. -#}
    {%- do apply_grants(target, config.get('grants'), should_revoke=should_revoke(existing, full_refresh_mode=full_refresh)) -%}
    {%- do persist_docs(target, model) -%}
    {{ return({'relations': [target]}) }}
{% endmaterialization %}


{# The change log's columns, after checking it exists and has the Streamkap columns and the key. #}
{% macro cdc_checked_columns(columns, key_names, change_log) %}
    {%- if columns | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "cdc_current_state: change log " ~ change_log ~ " does not exist or has no columns.") }}
    {%- endif -%}
    {%- set present = columns | map(attribute='name') | map('lower') | list -%}
    {%- set missing = [] -%}
    {%- for name in ['_streamkap_source_ts_ms', '_streamkap_ts_ms', '_streamkap_offset', '__deleted'] -%}
        {%- if name not in present %}{% do missing.append(name) %}{% endif -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            "cdc_current_state: change log " ~ change_log ~ " lacks the Streamkap column(s) "
            ~ missing | join(', ') ~ ".") }}
    {%- endif -%}
    {%- for name in key_names -%}
        {%- if name | lower not in present -%}
            {{ exceptions.raise_compiler_error(
                "cdc_current_state: unique_key column '" ~ name ~ "' is not a column of "
                ~ change_log ~ ".") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{# Schema evolution: a column added to the change log is added to the current state.
   A column of the current state that the change log no longer has is an error: its
   values could no longer be kept current. #}
{% macro cdc_add_new_columns(target, change_log, log_columns, target_columns) %}
    {%- set in_target = target_columns | map(attribute='name') | map('lower') | list -%}
    {%- set in_log = log_columns | map(attribute='name') | map('lower') | list -%}
    {%- set gone = in_target | reject('in', in_log) | list -%}
    {%- if gone -%}
        {{ exceptions.raise_compiler_error(
            "cdc_current_state: column(s) " ~ gone | join(', ') ~ " of " ~ target ~ " are no longer in its change log "
            ~ change_log ~ ". Restore them in the landing table, or rebuild with --full-refresh to drop them.") }}
    {%- endif -%}
    {#- A changed type (int to text, a widened decimal) would be cast on merge, or fail
        half-way: stop, naming the column, until a rebuild takes the new type. -#}
    {%- set target_types = {} -%}
    {%- for column in target_columns -%}
        {%- do target_types.update({column.name | lower: column.data_type}) -%}
    {%- endfor -%}
    {%- for column in log_columns if column.name | lower in target_types and column.name | lower != '__deleted'
            and (column.data_type | upper) != (target_types[column.name | lower] | upper) -%}
        {{ exceptions.raise_compiler_error(
            "cdc_current_state: column " ~ column.name ~ " of change log " ~ change_log ~ " is now "
            ~ column.data_type ~ ", but " ~ target_types[column.name | lower] ~ " in " ~ target
            ~ ". Rebuild with --full-refresh to take the new type.") }}
    {%- endfor -%}
    {%- set added = [] -%}
    {%- for column in log_columns if column.name | lower not in in_target -%}
        {%- do added.append(column.name | lower) -%}
    {%- endfor -%}
    {%- if added -%}
        {#- Rare: only now are the change log's column types needed. -#}
        {%- set typed = [] -%}
        {%- for column in adapter.get_columns_in_relation(change_log) if column.name | lower in added -%}
            {#- Named as the current state spells columns (see cdc_log_column). -#}
            {%- do typed.append(api.Column.create(cdc_state_name(column.name), column.data_type)) -%}
        {%- endfor -%}
        {%- do alter_relation_add_remove_columns(target, typed, none) -%}
    {%- endif -%}
{% endmacro %}


{# The newest _streamkap_ts_ms in a current-state table (for tables without a watermark yet). #}
{% macro cdc_newest_applied_event(target) %}
    {%- set newest = run_query("select max(_streamkap_ts_ms) from " ~ target).columns[0].values()[0] -%}
    {{ return(none if newest is none else newest | int) }}
{% endmacro %}


{# create table as, replacing the table: transient on Snowflake (current state is
   rebuilt from the change log, so Fail-safe would only cost storage). #}
{% macro cdc_create_table_as(relation, sql) %}
    {{- return(adapter.dispatch('cdc_create_table_as')(relation, sql)) -}}
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
