{# Repairs of what the incremental windows cannot see: events that became visible
   later than the lookback (a lagging destination, a paused connector), and rows a
   re-snapshot showed to be gone (deletes missed during an outage). Each repair is
   logged and recorded in `cdc_repairs`, beside the watermarks. #}

{% macro cdc_repairs_relation(relation) %}
    {{ return(api.Relation.create(database=relation.database, schema=relation.schema,
                                  identifier='cdc_repairs', type='table')) }}
{% endmacro %}


{# Created by the on-run-start hook (cdc_create_watermarks), and by the re-snapshot
   operation, which runs without hooks. #}
{% macro cdc_create_repairs(repairs) %}
    {%- call statement('cdc_create_repairs') -%}
        {{ streamkap_cdc.cdc_create_repairs_sql(repairs) }}
    {%- endcall -%}
{% endmacro %}


{% macro cdc_create_repairs_sql(repairs) -%}
create table if not exists {{ repairs }} (
    table_name varchar,
    kind varchar,
    keys_repaired bigint,
    oldest_event_ms bigint,
    snapshot_started_at_ms bigint,
    repaired_at {{ streamkap_cdc.type_timestamp_ntz() }}
)
{%- endmacro %}


{% macro cdc_record_repair(repairs, table_name, kind, keys_repaired, oldest_event_ms, snapshot_started_at_ms=none) %}
    {%- call statement('cdc_record_repair') -%}
        insert into {{ repairs }} (table_name, kind, keys_repaired, oldest_event_ms, snapshot_started_at_ms, repaired_at)
        values ('{{ table_name }}', '{{ kind }}', {{ keys_repaired }},
                {{ oldest_event_ms if oldest_event_ms is not none else 'null' }},
                {{ snapshot_started_at_ms if snapshot_started_at_ms is not none else 'null' }},
                {{ streamkap_cdc.current_utc_timestamp() }})
    {%- endcall -%}
{% endmacro %}


{# Whether this run repairs late events: var cdc_repair when set, else only in the
   nightly job (`--selector nightly`), the one job that may read whole change logs. #}
{% macro cdc_repair_mode() %}
    {%- set value = var('cdc_repair', none) -%}
    {%- if value is none -%}
        {{ return(invocation_args_dict.get('selector') == 'nightly') }}
    {%- endif -%}
    {%- if value is boolean -%}{{ return(value) }}{%- endif -%}
    {%- if value | string | lower in ('true', 'false') -%}{{ return(value | string | lower == 'true') }}{%- endif -%}
    {{ exceptions.raise_compiler_error("var cdc_repair must be true or false; got '" ~ value ~ "'.") }}
{% endmacro %}


{# Applies every event the windows missed. Reads the whole change log once, keeps the
   keys whose row does not hold their newest event (or whose row is missing), and
   merges only those, without the sequence guard: the whole log has decided. Returns
   the number of keys repaired. #}
{% macro cdc_repair_late_events(target, change_log, table_name, key_names, columns, offset_resets, repairs, resnapshot_ms) %}
    {%- set key_columns = streamkap_cdc.cdc_pick_columns(columns, key_names) -%}
    {%- set missed = make_temp_relation(target, '__cdc_missed') -%}
    {%- set sql -%}
with newest as (
{{ streamkap_cdc.cdc_latest_events(change_log, key_names, columns, offset_resets=offset_resets, resnapshot_ms=resnapshot_ms) }}
)

select newest.*
from newest
left join {{ target }} as current_state
    on {% for column in key_columns -%}
        current_state.{{ streamkap_cdc.cdc_state_column(column.name) }} = newest.{{ streamkap_cdc.cdc_state_column(column.name) }}
        {%- if not loop.last %} and {% endif %}
    {%- endfor %}
{#- The row does not hold the newest event: a missed event, or a redelivery applied
    because its original lay outside every window the runs read. #}
where case
    when current_state.{{ streamkap_cdc.cdc_state_column(key_columns[0].name) }} is null then not newest.__deleted
    else not ({{ streamkap_cdc.cdc_is_same_event('newest', 'current_state', columns, offset_resets) }}
              and newest._streamkap_ts_ms = current_state._streamkap_ts_ms)
end
    {%- endset -%}
    {%- call statement('cdc_find_missed') -%}
        {{ get_create_table_as_sql(True, missed, sql) }}
    {%- endcall -%}
    {%- set summary = run_query("select count(*), min(_streamkap_ts_ms) from " ~ missed).rows[0] -%}
    {%- set keys_repaired = summary[0] | int -%}
    {%- if keys_repaired > 0 -%}
        {%- call statement('cdc_repair_merge') -%}
            {{ streamkap_cdc.cdc_merge_sql(target, 'select * from ' ~ missed, columns, key_names, offset_resets, guard=false) }}
        {%- endcall -%}
        {%- do streamkap_cdc.cdc_record_repair(repairs, table_name, 'late_events', keys_repaired, summary[1] | int) -%}
        {{ log("cdc repair: " ~ table_name ~ ": " ~ keys_repaired ~ " key(s) repaired, oldest missed event ingested at "
               ~ summary[1] ~ " (" ~ streamkap_cdc.cdc_iso_utc(summary[1] | int) ~ ")",
               info=True) }}
    {%- endif -%}
    {%- do adapter.drop_relation(missed) -%}
    {{ return(keys_repaired) }}
{% endmacro %}
