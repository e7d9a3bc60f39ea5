{# The steps both materializations (cdc_current_state, cdc_history) share: setup, the
   no-op when the change log did not grow, applying a statement with its watermark, and
   the finish. Each materialization keeps only what differs: the SQL it applies. #}


{# Setup: reads the model's config, runs the pre-hooks and the plan (one metadata query,
   which also tells whether the table exists: looking it up in dbt's relation cache
   scans every relation of the schema, for each model of the fleet). Returns what the
   steps and the materialization read: the change log, the key (from config
   `key_config`), the target, its watermarks table, the plan, whether the run rebuilds,
   the change log's checked columns and its ingestion-time column. `side_suffix`: the
   plan also reads the columns of the relation named like the target plus it. #}
{% macro cdc_run_setup(key_config, side_suffix=none) %}
    {%- set change_log_config = config.require('cdc_change_log') -%}
    {%- set table_name = change_log_config['table_name'] -%}
    {%- set change_log = source(change_log_config['source_name'], table_name) -%}
    {%- set key_names = config.require(key_config) -%}
    {%- set lookback_ms = (config.get('cdc_lookback_minutes') * 60000) | int -%}
    {%- set offset_resets = streamkap_cdc.cdc_offset_resets(table_name) -%}
    {%- set target = this.incorporate(type='table') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set watermarks = streamkap_cdc.cdc_watermarks_relation(target) -%}
    {%- set side = none if side_suffix is none else target.incorporate(path={'identifier': target.identifier ~ side_suffix}) -%}
    {#- A run that would skip when nothing landed lets the plan stop at metadata. -#}
    {%- set plan = streamkap_cdc.cdc_plan(change_log, target, watermarks, table_name, side,
                                          may_skip=not should_full_refresh() and not streamkap_cdc.cdc_repair_mode()) -%}
    {%- set existing = plan['target_exists'] -%}
    {%- set log_columns = streamkap_cdc.cdc_checked_columns(plan['change_log'], key_names, change_log) -%}
    {{ return({
        'table_name': table_name, 'change_log': change_log, 'key_names': key_names, 'lookback_ms': lookback_ms,
        'offset_resets': offset_resets, 'target': target, 'watermarks': watermarks, 'plan': plan,
        'existing': existing, 'full_refresh': not existing or should_full_refresh(),
        'log_columns': log_columns, 'ts_column': streamkap_cdc.cdc_log_column(log_columns, '_streamkap_ts_ms'),
        'resnapshot_ms': plan['resnapshot_ms'],
    }) }}
{% endmacro %}


{# True, after recording the run as a no-op, when nothing landed since the last run (the
   change log holds as many rows as then) and the run may skip (`may_skip`) and does not
   rebuild: no statement beyond the plan. #}
{% macro cdc_skip_if_nothing_landed(run, may_skip=true) %}
    {%- set plan = run['plan'] -%}
    {%- set skip = may_skip and not run['full_refresh'] and plan['landed_rows'] is not none
                   and plan['landed_rows'] == plan['applied_landed_rows'] -%}
    {%- if skip -%}
        {%- do store_raw_result('main', message='NO NEW EVENTS', code='NOOP', rows_affected=0) -%}
        {#- A target without the landed-rows mark (built before marks were kept) gains it. -#}
        {%- if plan.get('marked_landed_rows', plan['landed_rows']) != plan['landed_rows'] -%}
            {%- do streamkap_cdc.cdc_mark_landed_rows(run['target'], plan['landed_rows'], streamkap_cdc.cdc_persisted_description()) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(skip) }}
{% endmacro %}


{# Sends `sql` as the run's main statement, drops `dropped` (a temporary relation it
   read), runs the in-transaction post-hooks and records the watermark (see
   cdc_record_watermark: `window_start`, `held_back_sql`, the re-snapshot applied
   when `record_resnapshot`, and `applied_through_ms` when the run read up to a literal).
   `then_sql`: a statement sent right after the main one, before the drop. #}
{% macro cdc_apply(run, sql, window_start=none, held_back_sql=none, record_resnapshot=false, dropped=none,
                   applied_through_ms=none, then_sql=none) %}
    {%- do run.update({'applied': true}) -%}
    {%- call statement('main') -%}
        {{ sql }}
    {%- endcall -%}
    {%- if then_sql is not none -%}
        {%- call statement('then') -%}
            {{ then_sql }}
        {%- endcall -%}
    {%- endif -%}
    {%- if dropped is not none %}{% do adapter.drop_relation(dropped) %}{% endif -%}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {%- do streamkap_cdc.cdc_record_watermark(run['watermarks'], run['target'], run['change_log'], window_start,
                                              run['plan']['landed_rows'], run['ts_column'], held_back_sql,
                                              run['lookback_ms'] if held_back_sql else 0,
                                              run['resnapshot_ms'] if record_resnapshot else none,
                                              applied_through_ms) -%}
{% endmacro %}


{# Finish: commits, runs the post-hooks outside the transaction, applies grants and
   persists docs (both send statements only when the model configures them). #}
{% macro cdc_run_finish(run) %}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {%- do apply_grants(run['target'], config.get('grants'),
                        should_revoke=should_revoke(run['existing'], full_refresh_mode=run['full_refresh'])) -%}
    {%- do persist_docs(run['target'], model) -%}
    {#- After the commit: the mark (DDL) must never claim rows a failed run did not apply. -#}
    {%- if run.get('applied') -%}
        {%- do streamkap_cdc.cdc_mark_from_watermark(run['watermarks'], run['target'], streamkap_cdc.cdc_persisted_description()) -%}
    {%- endif -%}
{% endmacro %}


{# The model's description when persist_docs writes it to the relation's comment. #}
{% macro cdc_persisted_description() %}
    {{ return(model.description if (config.get('persist_docs') or {}).get('relation') else '') }}
{% endmacro %}
