{# The materialization of current-state models (see cdc_current_state). A run that
   finds new rows in the change log sends, in steady state:
     1. the plan (columns, watermark, row count of the change log: metadata only),
     2. the MERGE of the newest event of each key since the watermark minus the lookback,
     3. the folder's post-hook,
     4. the new watermark,
   and on Snowflake the landed-rows mark (its read and an ALTER TABLE ... SET COMMENT).
   A run that finds nothing new stops after the plan (on Snowflake, SHOW statements). The first run, --full-refresh and
   a missing table rebuild from the whole change log. #}
{% materialization cdc_current_state, default %}
    {%- set run = streamkap_cdc.cdc_run_setup('unique_key') -%}
    {%- set plan, target, change_log = run['plan'], run['target'], run['change_log'] -%}
    {%- set key_names, log_columns, offset_resets = run['key_names'], run['log_columns'], run['offset_resets'] -%}
    {%- set repair = not run['full_refresh'] and streamkap_cdc.cdc_repair_mode() -%}
    {#- The newest event of each key over the whole log: a rebuild's rows, or the batch of
        a table without a watermark. -#}
    {%- set whole_log = streamkap_cdc.cdc_latest_events(change_log, key_names, log_columns, offset_resets=offset_resets,
                                                        resnapshot_ms=run['resnapshot_ms']) -%}

    {%- if streamkap_cdc.cdc_skip_if_nothing_landed(run) -%}
    {%- elif run['full_refresh'] -%}
        {%- do streamkap_cdc.cdc_apply(run, streamkap_cdc.cdc_create_table_as(target, whole_log)) -%}
    {%- else -%}
        {%- set applied_through_ms = plan['applied_through_ms'] -%}
        {%- if applied_through_ms is none -%}
            {#- No watermark (a table built before watermarks were kept, or rebuilt from an
                empty log): start from its newest event, or from the start of the log. -#}
            {%- set applied_through_ms = streamkap_cdc.cdc_newest_applied_event(target) -%}
        {%- endif -%}
        {%- do streamkap_cdc.cdc_add_new_columns(target, change_log, log_columns, plan['target']) -%}
        {%- if applied_through_ms is none -%}
            {%- do streamkap_cdc.cdc_apply(run, streamkap_cdc.cdc_merge_sql(target, whole_log, log_columns, key_names,
                                                                           offset_resets)) -%}
        {%- else -%}
            {#- The lookback also bounds the clock skew between the source database and Streamkap. -#}
            {%- set window_start = applied_through_ms - run['lookback_ms'] -%}
            {%- set held_range = none if plan['held_from_ms'] is none else [plan['held_from_ms'], plan['held_to_ms']] -%}
            {%- set batch = streamkap_cdc.cdc_latest_events(change_log, key_names, log_columns, window_start,
                                                            run['lookback_ms'], offset_resets, held_range=held_range,
                                                            target=target) -%}
            {%- do streamkap_cdc.cdc_apply(run, streamkap_cdc.cdc_merge_sql(target, batch, log_columns, key_names, offset_resets,
                                                                           hold_back=true, resnapshot_ms=run['resnapshot_ms']),
                                           window_start,
                                           streamkap_cdc.cdc_held_back_events(change_log, target, key_names, log_columns,
                                                                              window_start, run['lookback_ms'],
                                                                              offset_resets, held_range)) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if repair -%}
        {%- do streamkap_cdc.cdc_repair_late_events(target, change_log, run['table_name'], key_names, log_columns,
                                                    offset_resets, streamkap_cdc.cdc_repairs_relation(target),
                                                    run['resnapshot_ms']) -%}
    {%- endif -%}

    {%- do streamkap_cdc.cdc_run_finish(run) -%}
    {{ return({'relations': [target]}) }}
{% endmaterialization %}
