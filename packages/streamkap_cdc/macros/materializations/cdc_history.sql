{# The materialization of history models (see cdc_history). A run that finds new rows in
   the change log sends, in steady state:
     1. the plan (columns, watermark, row count of the change log: metadata only),
     2. the version chains of the keys with an event ingested since the watermark minus
        the lookback, recomputed from those keys' events (a temporary table),
     3. one MERGE replacing those keys' versions, so no reader sees a half-replaced chain,
     4. the new watermark (cdc_watermarks, under the model's relation name).
   A run that finds nothing new stops after the plan. The first run, --full-refresh and a
   missing table build every chain with the same SQL; the nightly repair (cdc_repair_mode)
   recomputes every key through the MERGE, which also picks up events that became
   visible later than the lookback. #}
{% materialization cdc_history, default %}
    {%- set change_log_config = config.require('cdc_change_log') -%}
    {%- set change_log = source(change_log_config['source_name'], change_log_config['table_name']) -%}
    {%- set key_names = config.require('cdc_history_key') -%}
    {%- set lookback_ms = (config.get('cdc_lookback_minutes') * 60000) | int -%}
    {%- set offset_resets = streamkap_cdc.cdc_offset_resets(change_log_config['table_name']) -%}
    {%- set target = this.incorporate(type='table') -%}
    {%- set watermarks = streamkap_cdc.cdc_watermarks_relation(target) -%}
    {%- set original_query_tag = streamkap_cdc.cdc_history_set_query_tag() -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {#- Whether the table exists comes from the plan: no relation-cache look-up. -#}
    {%- set plan = streamkap_cdc.cdc_plan(change_log, target, watermarks, change_log_config['table_name']) -%}
    {%- set resnapshot_ms = plan['resnapshot_ms'] -%}
    {%- set existing = plan['target'] | length > 0 -%}
    {%- set full_refresh = not existing or should_full_refresh() -%}
    {#- A re-snapshot applied since the last run closes versions of keys no event touched. -#}
    {%- set repair = not full_refresh and (streamkap_cdc.cdc_repair_mode() or resnapshot_ms != plan['applied_resnapshot_ms']) -%}
    {%- set log_columns = streamkap_cdc.cdc_checked_columns(plan['change_log'], key_names, change_log) -%}
    {%- set ts_column = streamkap_cdc.cdc_log_column(log_columns, '_streamkap_ts_ms') -%}
    {%- set tracked = streamkap_cdc.cdc_history_tracked(log_columns, key_names, config.get('cdc_track_columns'),
                                          change_log_config['table_name']) -%}

    {%- if not full_refresh and not repair and plan['landed_rows'] is not none
            and plan['landed_rows'] == plan['applied_landed_rows'] -%}
        {%- do store_raw_result('main', message='NO NEW EVENTS', code='NOOP', rows_affected=0) -%}
    {%- elif full_refresh -%}
        {%- call statement('main') -%}
            {{ streamkap_cdc.cdc_create_table_as(target, streamkap_cdc.cdc_history_sql(change_log, key_names, log_columns, tracked, offset_resets,
                                                           resnapshot_ms=resnapshot_ms)) }}
        {%- endcall -%}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {%- do streamkap_cdc.cdc_record_watermark(watermarks, target, change_log, none, plan['landed_rows'], ts_column,
                                    resnapshot_ms=resnapshot_ms) -%}
    {%- else -%}
        {%- set applied_through_ms = plan['applied_through_ms'] -%}
        {%- set window_start = none if repair or applied_through_ms is none else applied_through_ms - lookback_ms -%}
        {%- set history_columns = ['version_number', 'valid_from', 'valid_to', 'is_current'] -%}
        {#- The source table's columns and the sequence of each version's last event: no __deleted. -#}
        {%- set row_columns = log_columns | reject('in', streamkap_cdc.cdc_pick_columns(log_columns, ['__deleted'])) | list -%}
        {%- set kept = [] -%}
        {%- for column in plan['target'] if column.name | lower not in history_columns -%}
            {%- do kept.append(column) -%}
        {%- endfor -%}
        {%- do streamkap_cdc.cdc_add_new_columns(target, change_log, row_columns, kept) -%}
        {%- set recomputed = make_temp_relation(target) -%}
        {%- call statement('cdc_recompute_versions') -%}
            {{ get_create_table_as_sql(True, recomputed,
                   streamkap_cdc.cdc_history_sql(change_log, key_names, log_columns, tracked, offset_resets, window_start,
                                           resnapshot_ms)) }}
        {%- endcall -%}
        {%- call statement('main') -%}
            {#- The history's columns take the current state's spelling (cdc_state_column). -#}
            {%- set row_names = [] -%}
            {%- for column in row_columns %}{% do row_names.append(streamkap_cdc.cdc_state_column(column.name)) %}{% endfor -%}
            {%- set key_state_names = [] -%}
            {%- for column in streamkap_cdc.cdc_pick_columns(log_columns, key_names) -%}
                {%- do key_state_names.append(streamkap_cdc.cdc_state_column(column.name)) -%}
            {%- endfor -%}
            {{ streamkap_cdc.cdc_history_merge_sql(target, recomputed, row_names + history_columns, key_state_names) }}
        {%- endcall -%}
        {%- do adapter.drop_relation(recomputed) -%}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {%- do streamkap_cdc.cdc_record_watermark(watermarks, target, change_log, window_start, plan['landed_rows'], ts_column,
                                    resnapshot_ms=resnapshot_ms) -%}
    {%- endif -%}

    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {%- do apply_grants(target, config.get('grants'), should_revoke=should_revoke(existing and target, full_refresh_mode=full_refresh)) -%}
    {%- do persist_docs(target, model) -%}
    {%- do streamkap_cdc.cdc_history_unset_query_tag(original_query_tag) -%}
    {{ return({'relations': [target]}) }}
{% endmaterialization %}
