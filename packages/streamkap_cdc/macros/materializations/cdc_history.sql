{# The materialization of history models (see cdc_history). A run that finds new rows in
   the change log sends, in steady state:
     1. the plan (columns, watermark, row count of the change log: metadata only),
     2. the window's bounds: its newest event and the commit times that may repeat an
        event before it (one query, pruned to the window by a literal),
     3. the version chains of the keys with an event in the window, continued from each
        key's checkpoint (its state before the window) over the window's events only
        (a temporary table; cdc_history_sql),
     4. one MERGE replacing those keys' versions from their checkpoint on, so no reader
        sees a half-replaced chain,
     5. one MERGE of the keys' new checkpoints,
     6. the new watermark (cdc_watermarks, under the model's relation name): the newest
        event read, where the checkpoints stop.
   A run that finds nothing new stops after the plan (on Snowflake, SHOW statements; a run
   that applies also sets the landed-rows mark). The first run, --full-refresh and
   a missing table (or checkpoints table) build every chain with the same SQL; the
   nightly repair (cdc_repair_mode) recomputes every key through the MERGE, which also
   picks up events that became visible later than the lookback. #}
{% materialization cdc_history, default %}
    {#- The model's query tag, before its pre-hooks' statements. -#}
    {%- set original_query_tag = streamkap_cdc.cdc_history_set_query_tag() -%}
    {%- set suffix = streamkap_cdc.cdc_history_checkpoints_relation(this).identifier[this.identifier | length:] -%}
    {%- set run = streamkap_cdc.cdc_run_setup('cdc_history_key', side_suffix=suffix) -%}
    {%- set plan, target, change_log = run['plan'], run['target'], run['change_log'] -%}
    {%- set key_names, log_columns, offset_resets = run['key_names'], run['log_columns'], run['offset_resets'] -%}
    {%- set checkpoints = streamkap_cdc.cdc_history_checkpoints_relation(target) -%}
    {#- A table built before checkpoints existed is rebuilt once. -#}
    {%- set rebuild = run['full_refresh'] or plan['side'] | length == 0 -%}
    {#- A re-snapshot applied since the last run closes versions of keys no event touched. -#}
    {%- set repair = not rebuild
                     and (streamkap_cdc.cdc_repair_mode() or run['resnapshot_ms'] != plan['applied_resnapshot_ms']) -%}
    {%- set tracked = streamkap_cdc.cdc_history_tracked(log_columns, key_names, config.get('cdc_track_columns'),
                                                        run['table_name']) -%}
    {%- set history_columns = ['version_number', 'valid_from', 'valid_to', 'is_current'] -%}
    {#- The source table's columns and the sequence of each version's last event: no __deleted. -#}
    {%- set row_columns = log_columns | reject('in', streamkap_cdc.cdc_pick_columns(log_columns, ['__deleted'])) | list -%}
    {#- The history's columns take the current state's spelling (cdc_state_column). -#}
    {%- set row_names = [] -%}
    {%- for column in row_columns %}{% do row_names.append(streamkap_cdc.cdc_state_column(column.name)) %}{% endfor -%}
    {%- set key_state_names = [] -%}
    {%- for column in streamkap_cdc.cdc_pick_columns(log_columns, key_names) -%}
        {%- do key_state_names.append(streamkap_cdc.cdc_state_column(column.name)) -%}
    {%- endfor -%}
    {%- set checkpoint_names = row_names + streamkap_cdc.cdc_history_checkpoint_fields() -%}

    {%- if streamkap_cdc.cdc_skip_if_nothing_landed(run, may_skip=not repair and not rebuild) -%}
    {%- else -%}
        {#- Without a watermark (nothing placeable landed yet), every key is recomputed. -#}
        {%- set every_key = rebuild or repair or plan['applied_through_ms'] is none -%}
        {%- if every_key -%}
            {%- set window_start = none -%}
            {%- set window = streamkap_cdc.cdc_history_rebuild_spec(change_log, log_columns, run['lookback_ms']) -%}
        {%- else -%}
            {%- set window_start = plan['applied_through_ms'] - run['lookback_ms'] -%}
            {%- set window = streamkap_cdc.cdc_history_window_spec(change_log, log_columns, window_start, run['lookback_ms'],
                                                                   checkpoints) -%}
            {%- set kept = [] -%}
            {%- for column in plan['side'] if column.name | lower not in streamkap_cdc.cdc_history_checkpoint_fields() -%}
                {%- do kept.append(column) -%}
            {%- endfor -%}
            {%- do streamkap_cdc.cdc_add_new_columns(checkpoints, change_log, row_columns, kept) -%}
        {%- endif -%}
        {%- if not rebuild -%}
            {%- set kept = [] -%}
            {%- for column in plan['target'] if column.name | lower not in history_columns -%}
                {%- do kept.append(column) -%}
            {%- endfor -%}
            {%- do streamkap_cdc.cdc_add_new_columns(target, change_log, row_columns, kept) -%}
        {%- endif -%}
        {%- set fold = make_temp_relation(target) -%}
        {%- call statement('cdc_recompute_versions') -%}
            {{ get_create_table_as_sql(True, fold,
                   streamkap_cdc.cdc_history_sql(change_log, key_names, log_columns, tracked, offset_resets, window,
                                                 run['resnapshot_ms'])) }}
        {%- endcall -%}
        {%- set fold_checkpoints = 'select ' ~ checkpoint_names | join(', ') ~ ' from ' ~ fold ~ " where _cdc_kind = 'checkpoint'" -%}
        {%- set fold_versions = 'select ' ~ (row_names + history_columns) | join(', ') ~ ' from ' ~ fold
                                ~ " where _cdc_kind = 'version'" -%}
        {#- The versions are written before the checkpoints: a run stopped in between
            leaves the old checkpoints, from which the next run recomputes the same. -#}
        {%- set checkpoints_sql = streamkap_cdc.cdc_create_table_as(checkpoints, fold_checkpoints) if every_key
                else streamkap_cdc.cdc_history_checkpoint_merge_sql(checkpoints, fold, checkpoint_names, key_state_names) -%}
        {%- if rebuild -%}
            {%- set main_sql = streamkap_cdc.cdc_create_table_as(target, fold_versions) -%}
        {%- else -%}
            {%- set main_sql = streamkap_cdc.cdc_history_merge_sql(
                    target, '(select ' ~ (row_names + history_columns + ['_cdc_base']) | join(', ') ~ ' from ' ~ fold
                            ~ " where _cdc_kind = 'version')", row_names + history_columns, key_state_names, '_cdc_base') -%}
        {%- endif -%}
        {%- do streamkap_cdc.cdc_apply(run, main_sql, window_start, record_resnapshot=true, dropped=fold,
                                       applied_through_ms=window['through_ms'], then_sql=checkpoints_sql) -%}
    {%- endif -%}

    {%- do streamkap_cdc.cdc_run_finish(run) -%}
    {%- do streamkap_cdc.cdc_history_unset_query_tag(original_query_tag) -%}
    {{ return({'relations': [target]}) }}
{% endmaterialization %}
