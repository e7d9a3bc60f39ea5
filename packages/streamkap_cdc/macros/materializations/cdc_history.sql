{# The materialization of history models (see cdc_history). A run that finds new rows in
   the change log sends, in steady state:
     1. the plan (columns, watermark, row count of the change log: metadata only),
     2. the version chains of the keys with an event ingested since the watermark minus
        the lookback, recomputed from those keys' events (a temporary table),
     3. one MERGE replacing those keys' versions, so no reader sees a half-replaced chain,
     4. the new watermark (cdc_watermarks, under the model's relation name).
   A run that finds nothing new stops after the plan (on Snowflake, SHOW statements; a run
   that applies also sets the landed-rows mark). The first run, --full-refresh and a
   missing table build every chain with the same SQL; the nightly repair (cdc_repair_mode)
   recomputes every key through the MERGE, which also picks up events that became
   visible later than the lookback. #}
{% materialization cdc_history, default %}
    {#- The model's query tag, before its pre-hooks' statements. -#}
    {%- set original_query_tag = streamkap_cdc.cdc_history_set_query_tag() -%}
    {%- set run = streamkap_cdc.cdc_run_setup('cdc_history_key') -%}
    {%- set plan, target, change_log = run['plan'], run['target'], run['change_log'] -%}
    {%- set key_names, log_columns, offset_resets = run['key_names'], run['log_columns'], run['offset_resets'] -%}
    {#- A re-snapshot applied since the last run closes versions of keys no event touched. -#}
    {%- set repair = not run['full_refresh']
                     and (streamkap_cdc.cdc_repair_mode() or run['resnapshot_ms'] != plan['applied_resnapshot_ms']) -%}
    {%- set tracked = streamkap_cdc.cdc_history_tracked(log_columns, key_names, config.get('cdc_track_columns'),
                                                        run['table_name']) -%}

    {%- if streamkap_cdc.cdc_skip_if_nothing_landed(run, may_skip=not repair) -%}
    {%- elif run['full_refresh'] -%}
        {%- do streamkap_cdc.cdc_apply(run, streamkap_cdc.cdc_create_table_as(target,
                   streamkap_cdc.cdc_history_sql(change_log, key_names, log_columns, tracked, offset_resets,
                                                 resnapshot_ms=run['resnapshot_ms'])), record_resnapshot=true) -%}
    {%- else -%}
        {%- set applied_through_ms = plan['applied_through_ms'] -%}
        {%- set window_start = none if repair or applied_through_ms is none else applied_through_ms - run['lookback_ms'] -%}
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
                                                 run['resnapshot_ms'])) }}
        {%- endcall -%}
        {#- The history's columns take the current state's spelling (cdc_state_column). -#}
        {%- set row_names = [] -%}
        {%- for column in row_columns %}{% do row_names.append(streamkap_cdc.cdc_state_column(column.name)) %}{% endfor -%}
        {%- set key_state_names = [] -%}
        {%- for column in streamkap_cdc.cdc_pick_columns(log_columns, key_names) -%}
            {%- do key_state_names.append(streamkap_cdc.cdc_state_column(column.name)) -%}
        {%- endfor -%}
        {%- do streamkap_cdc.cdc_apply(run, streamkap_cdc.cdc_history_merge_sql(target, recomputed, row_names + history_columns,
                                                                               key_state_names),
                                       window_start, record_resnapshot=true, dropped=recomputed) -%}
    {%- endif -%}

    {%- do streamkap_cdc.cdc_run_finish(run) -%}
    {%- do streamkap_cdc.cdc_history_unset_query_tag(original_query_tag) -%}
    {{ return({'relations': [target]}) }}
{% endmaterialization %}
