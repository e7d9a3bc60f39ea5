{# run-operation after a re-snapshot of `table` (a source table name) that began at
   `snapshot_started_at_ms` (epoch ms):

     dbt run-operation cdc_apply_resnapshot --args '{table: customer_entity, snapshot_started_at_ms: 1767225600000}'

   A re-snapshot sends every live row again, but no delete missed before it. Removes
   from the current state every row whose key has no event ingested and committed since
   the start: absent from the re-snapshot, so deleted at the source (a redelivered old
   event is no evidence, see cdc_outlived_resnapshot). Rows changed since are never
   touched. Run it once the re-snapshot has landed; running it again removes nothing.
   Recorded in cdc_repairs, so rebuilds and the nightly repair keep the rows out. #}
{% macro cdc_apply_resnapshot(table, snapshot_started_at_ms) %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set started = snapshot_started_at_ms | string | trim -%}
    {%- if snapshot_started_at_ms is boolean or not started.isdigit() or started | length < 12 -%}
        {{ exceptions.raise_compiler_error(
            "cdc_apply_resnapshot: snapshot_started_at_ms must be epoch milliseconds (13 digits); got '"
            ~ snapshot_started_at_ms ~ "'.") }}
    {%- endif -%}
    {%- set started = started | int -%}
    {%- set nodes = [] -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.materialized == 'cdc_current_state'
            and (node.config.get('cdc_change_log') or {}).get('table_name') == table -%}
        {%- do nodes.append(node) -%}
    {%- endfor -%}
    {%- if nodes | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            "cdc_apply_resnapshot: no current-state model reads the change log of table '" ~ table ~ "'.") }}
    {%- endif -%}
    {%- set node = nodes[0] -%}
    {%- set target = adapter.get_relation(node.database, node.schema, node.alias) -%}
    {%- set source_config = node.config['cdc_change_log'] -%}
    {%- set change_log = adapter.get_relation(*streamkap_cdc.cdc_source_parts(source_config['source_name'], table)) -%}
    {%- if target is none or change_log is none -%}
        {{ exceptions.raise_compiler_error(
            "cdc_apply_resnapshot: " ~ (node.alias if target is none else table ~ "'s change log")
            ~ " does not exist in the warehouse; build the model first.") }}
    {%- endif -%}
    {%- set key_names = node.config['unique_key'] -%}
    {#- The change log by its own spelling, the current state by its (see cdc_log_column). -#}
    {%- set log_columns = adapter.get_columns_in_relation(change_log) -%}
    {%- set log_ts = streamkap_cdc.cdc_log_column(log_columns, '_streamkap_ts_ms') -%}
    {%- set log_commit = streamkap_cdc.cdc_log_column(log_columns, '_streamkap_source_ts_ms') -%}
    {%- set landed = run_query("select count(*) from " ~ change_log ~ " where "
                               ~ streamkap_cdc.cdc_outlived_resnapshot(log_ts, log_commit, started)).columns[0].values()[0] -%}
    {%- if landed | int == 0 -%}
        {{ exceptions.raise_compiler_error(
            "cdc_apply_resnapshot: " ~ change_log ~ " holds no event ingested and committed since " ~ started
            ~ ": the re-snapshot has not landed, and every row would look deleted. Nothing removed.") }}
    {%- endif -%}
    {#- The outer table by its bare name: neither engine takes an alias in DELETE alike. -#}
    {%- set gone -%}
        where not exists (
                select 1 from {{ change_log }} as since
                where {{ streamkap_cdc.cdc_outlived_resnapshot('since.' ~ log_ts, 'since.' ~ log_commit, started) }}
                {%- for name in key_names %}
                    and since.{{ streamkap_cdc.cdc_log_column(log_columns, name) }} = {{ target.identifier }}.{{ streamkap_cdc.cdc_state_column(name) }}
                {%- endfor %}
            )
    {%- endset -%}
    {%- set removed = run_query("select count(*), min(_streamkap_ts_ms) from " ~ target ~ " " ~ gone).rows[0] -%}
    {%- set repairs = streamkap_cdc.cdc_repairs_relation(target) -%}
    {%- do streamkap_cdc.cdc_create_repairs(repairs) -%}
    {%- if removed[0] | int > 0 -%}
        {%- call statement('cdc_remove_missed_deletes') -%}
            delete from {{ target }} {{ gone }}
        {%- endcall -%}
    {%- endif -%}
    {%- do streamkap_cdc.cdc_record_repair(repairs, node.alias, 'resnapshot', removed[0] | int,
                             none if removed[1] is none else removed[1] | int, started) -%}
    {%- do adapter.commit() -%}
    {#- A history applies a re-snapshot on its next run, even when nothing lands: the
        models of the table lose their landed-rows mark, so their next run reads it. -#}
    {%- for reader in graph.nodes.values()
            if reader.resource_type == 'model' and reader.config.materialized in ('cdc_current_state', 'cdc_history')
            and (reader.config.get('cdc_change_log') or {}).get('table_name') == table -%}
        {%- set relation = adapter.get_relation(reader.database, reader.schema, reader.alias) -%}
        {%- if relation is not none -%}
            {%- do streamkap_cdc.cdc_mark_landed_rows(relation, none, reader.description
                                                      if (reader.config.get('persist_docs') or {}).get('relation') else '') -%}
        {%- endif -%}
    {%- endfor -%}
    {#- print: the operation's answer, shown even with --quiet. -#}
    {{ print("cdc_apply_resnapshot: " ~ table ~ ": removed " ~ removed[0] ~ " row(s) absent from the re-snapshot started at "
             ~ started ~ " (" ~ streamkap_cdc.cdc_iso_utc(started) ~ ")") }}
{% endmacro %}


{# database, schema and identifier of a source table, for adapter.get_relation. #}
{% macro cdc_source_parts(source_name, table_name) %}
    {%- for node in graph.sources.values() if node.source_name == source_name and node.name == table_name -%}
        {{ return([node.database, node.schema, node.identifier]) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("cdc_apply_resnapshot: source '" ~ source_name ~ "." ~ table_name ~ "' is not declared.") }}
{% endmacro %}


{# Epoch milliseconds as an ISO 8601 UTC time, for log lines. #}
{% macro cdc_iso_utc(epoch_ms) %}
    {{- return(modules.datetime.datetime.fromtimestamp(epoch_ms / 1000, modules.pytz.utc).isoformat()) -}}
{% endmacro %}


{# SQL true for an event that proves its key outlived a re-snapshot started at
   `started_ms`: ingested and committed since the start, so a read of the snapshot or a
   later change. A redelivery keeps its original's commit time, so it proves nothing.
   `ts` and `commit_ts`: the event's _streamkap_ts_ms and _streamkap_source_ts_ms. #}
{% macro cdc_outlived_resnapshot(ts, commit_ts, started_ms) -%}
    {{ ts }} >= {{ started_ms }} and {{ commit_ts }} >= {{ started_ms }}
{%- endmacro %}
