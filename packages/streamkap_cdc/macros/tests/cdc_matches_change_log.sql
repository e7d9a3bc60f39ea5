{# The nightly audit of a current-state table against its whole change log.

   Written from the rule, not from the engine: it calls none of the engine's macros,
   so a defect in them cannot hide from it. The rule, per key:
     - events with a NULL key column, offset, commit time or ingestion time, a negative
       offset or a __deleted other than true, false or NULL are ignored;
     - an event equal to an earlier-ingested one in everything but its ingestion time
       is a redelivery of it, and counts as that one;
     - the others are ordered by offset generation (how many of the table's entries in
       var('cdc_offset_resets') are <= the ingestion time), ingestion time, offset, then
       commit time: Streamkap processes a topic's events in offset order and a
       recreated topic after the old one, so the later delivered is the later event;
     - the newest event decides: a delete means no row, anything else exactly one row
       equal to that event on every change-log column the current state has (except
       __deleted). Events tied on all four are all accepted: the engine breaks that tie
       with a hash, which the audit does not replicate.
   After a re-snapshot applied with streamkap_cdc.cdc_apply_resnapshot (recorded in cdc_repairs), a
   key means no row unless an event of it was ingested and committed since the
   snapshot began (a read, or a later change; a redelivery keeps its old commit time).
   Only settled keys are compared: a key whose newest event was ingested after the
   newest event applied to the current state may simply not have been applied yet.

   Each failing row is a problem and the key it concerns: 'missing', 'extra',
   'stale' (the row equals an older event), 'corrupted' (it equals no event) or
   'duplicate'. A full scan: tagged for the nightly job. #}
{% test cdc_matches_change_log(model, source_name, table_name, unique_key) %}
    {{ config(tags=['cdc_reconciliation']) }}
    {%- set change_log = source(source_name, table_name) -%}
    {%- set key_names = [unique_key] if unique_key is string else unique_key | list -%}

    {#- The compared columns: the change log's, where the current state has them too. -#}
    {%- set log_names = {} -%}
    {%- set state_names = {} -%}
    {%- if execute -%}
        {%- do log_names.update(streamkap_cdc.cdc_test_column_names(change_log)) -%}
        {%- do state_names.update(streamkap_cdc.cdc_test_column_names(model)) -%}
    {%- else -%}
        {%- for name in key_names -%}
            {%- do log_names.update({name | lower: name}) -%}
            {%- do state_names.update({name | lower: name}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set compared = [] -%}
    {%- for name in log_names if name in state_names and name != '__deleted' -%}
        {%- do compared.append(name) -%}
    {%- endfor -%}
    {%- for name in key_names if name | lower not in compared -%}
        {{ exceptions.raise_compiler_error(
            "cdc_matches_change_log(" ~ source_name ~ "." ~ table_name ~ "): key column '" ~ name
            ~ "' is not in both the change log and " ~ model ~ ".") }}
    {%- endfor -%}
    {%- set keys = key_names | map('lower') | list -%}
    {%- set q = {} -%}
    {%- for name in compared -%}
        {#- Quoted as the warehouse spells them (Snowflake stores unquoted names upper-case). -#}
        {%- do q.update({name: adapter.quote(log_names[name])}) -%}
    {%- endfor -%}
    {#- The Streamkap columns too: a change log may hold them upper-case or "quoted lowercase". -#}
    {%- set sk = {} -%}
    {%- for name in ['_streamkap_source_ts_ms', '_streamkap_ts_ms', '_streamkap_offset', '__deleted'] -%}
        {%- do sk.update({name: adapter.quote(log_names.get(name, name))}) -%}
    {%- endfor -%}

    {#- Offset generations: Streamkap restarts a topic's offsets at these ingestion times. -#}
    {%- set resets_by_table = var('cdc_offset_resets', {}) or {} -%}
    {%- if resets_by_table is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "var cdc_offset_resets must map table names to lists of epoch-ms times; got " ~ resets_by_table ~ ".") }}
    {%- endif -%}
    {%- set resets = resets_by_table.get(table_name) or [] -%}
    {%- if resets is string or resets is mapping or resets is not iterable -%}
        {{ exceptions.raise_compiler_error(
            "var cdc_offset_resets['" ~ table_name ~ "'] must be a list of epoch-ms times; got " ~ resets ~ ".") }}
    {%- endif -%}
    {%- set generation = [] -%}
    {%- for reset in resets -%}
        {%- if reset is boolean or not (reset | string | trim).isdigit() -%}
            {{ exceptions.raise_compiler_error(
                "var cdc_offset_resets['" ~ table_name ~ "'] must list epoch-ms times; got " ~ reset ~ ".") }}
        {%- endif -%}
        {%- do generation.append('case when ' ~ sk['_streamkap_ts_ms'] ~ ' >= ' ~ (reset | string | trim) ~ ' then 1 else 0 end') -%}
    {%- endfor -%}

    {%- set watermarks = adapter.get_relation(database=model.database, schema=model.schema,
                                              identifier='cdc_watermarks') if execute else none -%}
    {%- set repairs = adapter.get_relation(database=model.database, schema=model.schema,
                                           identifier='cdc_repairs') if execute else none -%}

    {%- set key_columns = [] -%}
    {%- for name in keys %}{% do key_columns.append(q[name]) %}{% endfor -%}
    {%- set columns = [] -%}
    {%- for name in compared %}{% do columns.append(q[name]) %}{% endfor -%}
    {%- set key_list = key_columns | join(', ') -%}
    {%- set column_list = columns | join(', ') %}

with events as (

    select
        {{ column_list }},
        {{ generation | join(' + ') if generation else '0' }} as audit_generation,
        {{ sk['_streamkap_offset'] }} as audit_offset,
        {{ sk['_streamkap_source_ts_ms'] }} as audit_source_ts_ms,
        {{ sk['_streamkap_ts_ms'] }} as audit_ingested_ms,
        coalesce(lower(cast({{ sk['__deleted'] }} as varchar)) = 'true', false) as audit_deleted
    from {{ change_log }}
    where
        {%- for name in keys %}
        {{ q[name] }} is not null and
        {%- endfor %}
        {{ sk['_streamkap_offset'] }} >= 0
        and {{ sk['_streamkap_source_ts_ms'] }} is not null
        and {{ sk['_streamkap_ts_ms'] }} is not null
        and ({{ sk['__deleted'] }} is null or lower(cast({{ sk['__deleted'] }} as varchar)) in ('true', 'false'))

),

first_deliveries as (

    select * from (
        select
            events.*,
            row_number() over (
                partition by audit_generation,
                    {%- for c in columns if c != sk['_streamkap_ts_ms'] %} {{ c }},{% endfor %} audit_deleted
                order by audit_ingested_ms
            ) as audit_delivery
        from events
    ) as deliveries
    where audit_delivery = 1

),

top_events as (

    {#- rank, not row_number: every event tied at the top stays. #}
    select * from (
        select
            first_deliveries.*,
            rank() over (
                partition by {{ key_list }}
                order by audit_generation desc, audit_ingested_ms desc, audit_offset desc, audit_source_ts_ms desc
            ) as audit_rank
        from first_deliveries
    ) as ranked
    where audit_rank = 1

),

resnapshot as (

    select
        {%- if repairs %}
        coalesce((select max(snapshot_started_at_ms) from {{ repairs }}
                  where kind = 'resnapshot' and table_name = '{{ model.identifier }}'), 0) as started_ms
        {%- else %}
        0 as started_ms
        {%- endif %}

),

evidence as (

    {#- Keys the last re-snapshot showed alive: read by it, or changed since it began. #}
    select {{ key_list }}, max(audit_ingested_ms) as newest_ingested_ms
    from first_deliveries
    cross join resnapshot
    where audit_ingested_ms >= resnapshot.started_ms and audit_source_ts_ms >= resnapshot.started_ms
    group by {{ key_list }}

),

keys_in_log as (

    select
        {% for c in key_columns %}top_events.{{ c }}, {% endfor %}
        max(top_events.audit_ingested_ms) as newest_ingested_ms,
        max(case when top_events.audit_deleted or evidence.newest_ingested_ms is null then 1 else 0 end) as may_be_absent,
        max(case when top_events.audit_deleted or evidence.newest_ingested_ms is null then 0 else 1 end) as may_be_present
    from top_events
    left join evidence
        on {% for c in key_columns %}evidence.{{ c }} = top_events.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
    group by {% for c in key_columns %}top_events.{{ c }}{{ ', ' if not loop.last }}{% endfor %}

),

applied as (

    {#- How far the change log has been applied: the engine's watermark. Unlike the
        newest event among the rows, it counts applied deletes too (a delete removes its
        row), so a lost delete is caught. A table without one falls back on its rows.
        The engine's claim is itself audited: a watermark ahead of what was applied
        shows up as missing or stale keys. #}
    select
        {%- if watermarks %}
        coalesce(
            (select max(applied_through_ms) from {{ watermarks }} where table_name = '{{ model.identifier }}'),
            (select max(_streamkap_ts_ms) from {{ model }})
        ) as through_ms
        {%- else %}
        (select max(_streamkap_ts_ms) from {{ model }}) as through_ms
        {%- endif %}

),

settled as (

    {#- By the newest event's ingestion time alone: events of the key ingested later
        but older in the order cannot change what the key should hold. #}
    select keys_in_log.*
    from keys_in_log
    cross join applied
    where keys_in_log.newest_ingested_ms <= applied.through_ms

),

current_state as (

    select
        {%- for name in compared %}
        {{ adapter.quote(state_names[name]) }} as {{ q[name] }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}

),

duplicate as (

    select {{ key_list }}
    from current_state
    group by {{ key_list }}
    having count(*) > 1

),

missing as (

    select {% for c in key_columns %}settled.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
    from settled
    left join (select distinct {{ key_list }} from current_state) as present
        on {% for c in key_columns %}present.{{ c }} = settled.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
    where settled.may_be_absent = 0
        and present.{{ key_columns[0] }} is null

),

extra as (

    {#- One row per row, so a duplicated extra row counts twice. #}
    select {% for c in key_columns %}current_state.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
    from current_state
    left join keys_in_log
        on {% for c in key_columns %}keys_in_log.{{ c }} = current_state.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
    left join settled
        on {% for c in key_columns %}settled.{{ c }} = current_state.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
    where keys_in_log.newest_ingested_ms is null
        or settled.may_be_present = 0

),

differing as (

    {#- Row values (duplicates are the duplicate check's) of settled keys that may be
        present, equal to none of the non-delete events tied at the top. #}
    select distinct current_state.*
    from current_state
    inner join settled
        on {% for c in key_columns %}settled.{{ c }} = current_state.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
    left join top_events
        {#- Key equality first, so the join can hash on it. #}
        on {% for c in key_columns %}top_events.{{ c }} = current_state.{{ c }} and {% endfor %}
        {%- for c in columns %}
        top_events.{{ c }} is not distinct from current_state.{{ c }}{{ ' and' if not loop.last }}
        {%- endfor %}
        and not top_events.audit_deleted
    where settled.may_be_present = 1
        and top_events.audit_rank is null

),

classified as (

    {#- Stale: the row holds an older event of its key; corrupted: no event at all. #}
    select distinct
        case when events.audit_ingested_ms is null then 'corrupted' else 'stale' end as problem,
        {% for c in key_columns %}differing.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
    from differing
    left join events
        {#- Key equality first, so the join can hash on it. #}
        on {% for c in key_columns %}events.{{ c }} = differing.{{ c }} and {% endfor %}
        {%- for c in columns %}
        events.{{ c }} is not distinct from differing.{{ c }}{{ ' and' if not loop.last }}
        {%- endfor %}

)

select 'missing' as problem, {{ key_list }} from missing
union all
select 'extra' as problem, {{ key_list }} from extra
union all
select problem, {{ key_list }} from classified
union all
select 'duplicate' as problem, {{ key_list }} from duplicate

{% endtest %}
