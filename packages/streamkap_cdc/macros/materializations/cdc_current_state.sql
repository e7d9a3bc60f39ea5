{# The materialization of current-state models (see cdc_current_state). A run that
   finds new rows in the change log sends, in steady state:
     1. the plan (columns, watermark, row count of the change log: metadata only),
     2. the MERGE of the newest event of each key since the watermark minus the lookback,
     3. the folder's post-hook,
     4. the new watermark,
   and on Snowflake the landed-rows mark (its read and an ALTER TABLE ... SET COMMENT).
   With `cdc_change_feed: true`, the before images of the batch's keys go to the model's
   change feed just before the MERGE (change_feed/record.sql).
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

    {%- set change_feed = streamkap_cdc.cdc_change_feed_enabled() -%}

    {%- if streamkap_cdc.cdc_skip_if_nothing_landed(run) -%}
    {%- elif run['full_refresh'] -%}
        {%- do streamkap_cdc.cdc_apply(run, streamkap_cdc.cdc_create_table_as(target, whole_log)) -%}
        {#- A rebuild has no before images: the feed starts over and its consumers rebuild. -#}
        {%- if change_feed %}{% do streamkap_cdc.cdc_change_feed_reset(target) %}{% endif -%}
    {%- else -%}
        {%- set applied_through_ms = plan['applied_through_ms'] -%}
        {%- if applied_through_ms is none -%}
            {#- No watermark (a table built before watermarks were kept, or rebuilt from an
                empty log): start from its newest event, or from the start of the log. -#}
            {%- set applied_through_ms = streamkap_cdc.cdc_newest_applied_event(target) -%}
        {%- endif -%}
        {%- do streamkap_cdc.cdc_add_new_columns(target, change_log, log_columns, plan['target']) -%}
        {%- set in_target = plan['target'] | map(attribute='name') | map('lower') | list -%}
        {%- set added = [] -%}
        {%- for column in log_columns if column.name | lower not in in_target %}{% do added.append(column) %}{% endfor -%}
        {%- if applied_through_ms is none -%}
            {%- if change_feed -%}
                {%- do streamkap_cdc.cdc_change_feed_record(target, whole_log, key_names, plan['target'], log_columns,
                                                            offset_resets, added=added) -%}
            {%- endif -%}
            {%- do streamkap_cdc.cdc_apply(run, streamkap_cdc.cdc_merge_sql(target, whole_log, log_columns, key_names,
                                                                           offset_resets)) -%}
        {%- else -%}
            {#- The lookback also bounds the clock skew between the source database and Streamkap. -#}
            {%- set window_start = applied_through_ms - run['lookback_ms'] -%}
            {%- set held_range = none if plan['held_from_ms'] is none else [plan['held_from_ms'], plan['held_to_ms']] -%}
            {%- set batch = streamkap_cdc.cdc_latest_events(change_log, key_names, log_columns, window_start,
                                                            run['lookback_ms'], offset_resets, held_range=held_range,
                                                            target=target) -%}
            {%- if change_feed -%}
                {%- do streamkap_cdc.cdc_change_feed_record(target, batch, key_names, plan['target'], log_columns,
                                                            offset_resets, true, run['resnapshot_ms'], added) -%}
            {%- endif -%}
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
