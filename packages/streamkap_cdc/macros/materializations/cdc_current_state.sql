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
    {%- set offset_resets = streamkap_cdc.cdc_offset_resets(change_log_config['table_name']) -%}
    {%- set target = this.incorporate(type='table') -%}
    {%- set watermarks = streamkap_cdc.cdc_watermarks_relation(target) -%}
    {%- set repairs = streamkap_cdc.cdc_repairs_relation(target) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {#- Whether the table exists comes from the plan too: looking it up in dbt's relation
        cache scans every relation of the schema, for each model of the fleet. -#}
    {%- set plan = streamkap_cdc.cdc_plan(change_log, target, watermarks, change_log_config['table_name']) -%}
    {%- set existing = plan['target'] | length > 0 -%}
    {%- set full_refresh = not existing or should_full_refresh() -%}
    {%- set repair = not full_refresh and streamkap_cdc.cdc_repair_mode() -%}
    {%- set log_columns = streamkap_cdc.cdc_checked_columns(plan['change_log'], key_names, change_log) -%}
    {%- set ts_column = streamkap_cdc.cdc_log_column(log_columns, '_streamkap_ts_ms') -%}
    {%- set resnapshot_ms = plan['resnapshot_ms'] -%}

    {%- if not full_refresh and plan['landed_rows'] is not none
            and plan['landed_rows'] == plan['applied_landed_rows'] -%}
        {#- Nothing landed since the last run: no statement beyond the plan. -#}
        {%- do store_raw_result('main', message='NO NEW EVENTS', code='NOOP', rows_affected=0) -%}
    {%- elif full_refresh -%}
        {%- call statement('main') -%}
            {{ streamkap_cdc.cdc_create_table_as(target, streamkap_cdc.cdc_latest_events(change_log, key_names, log_columns,
                                                             offset_resets=offset_resets, resnapshot_ms=resnapshot_ms)) }}
        {%- endcall -%}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {%- do streamkap_cdc.cdc_record_watermark(watermarks, target, change_log, none, plan['landed_rows'], ts_column) -%}
    {%- else -%}
        {%- set applied_through_ms = plan['applied_through_ms'] -%}
        {%- if applied_through_ms is none -%}
            {#- No watermark (a table built before watermarks were kept, or rebuilt from an
                empty log): start from its newest event, or from the start of the log. -#}
            {%- set applied_through_ms = streamkap_cdc.cdc_newest_applied_event(target) -%}
        {%- endif -%}
        {%- do streamkap_cdc.cdc_add_new_columns(target, change_log, log_columns, plan['target']) -%}
        {%- if applied_through_ms is none -%}
            {%- call statement('main') -%}
                {{ streamkap_cdc.cdc_merge_sql(target, streamkap_cdc.cdc_latest_events(change_log, key_names, log_columns, offset_resets=offset_resets,
                                                           resnapshot_ms=resnapshot_ms),
                                 log_columns, key_names, offset_resets) }}
            {%- endcall -%}
            {{ run_hooks(post_hooks, inside_transaction=True) }}
            {%- do streamkap_cdc.cdc_record_watermark(watermarks, target, change_log, none, plan['landed_rows'], ts_column) -%}
        {%- else -%}
            {%- set window_start = applied_through_ms - lookback_ms -%}
            {%- set held_range = none if plan['held_from_ms'] is none else [plan['held_from_ms'], plan['held_to_ms']] -%}
            {%- call statement('main') -%}
                {#- The lookback also bounds the clock skew between MySQL and Streamkap. -#}
                {{ streamkap_cdc.cdc_merge_sql(target, streamkap_cdc.cdc_latest_events(change_log, key_names, log_columns, window_start, lookback_ms,
                                                           offset_resets, held_range=held_range, target=target),
                                 log_columns, key_names, offset_resets, hold_back=true, resnapshot_ms=resnapshot_ms) }}
            {%- endcall -%}
            {{ run_hooks(post_hooks, inside_transaction=True) }}
            {%- do streamkap_cdc.cdc_record_watermark(watermarks, target, change_log, window_start, plan['landed_rows'], ts_column,
                                        streamkap_cdc.cdc_held_back_events(change_log, target, key_names, log_columns, window_start,
                                                             lookback_ms, offset_resets, held_range),
                                        lookback_ms) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if repair -%}
        {%- do streamkap_cdc.cdc_repair_late_events(target, change_log, change_log_config['table_name'], key_names, log_columns,
                                      offset_resets, repairs, resnapshot_ms) -%}
    {%- endif -%}

    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {#- Both send statements only when the model configures grants or persist_docs. -#}
    {%- do apply_grants(target, config.get('grants'), should_revoke=should_revoke(existing, full_refresh_mode=full_refresh)) -%}
    {%- do persist_docs(target, model) -%}
    {{ return({'relations': [target]}) }}
{% endmaterialization %}
