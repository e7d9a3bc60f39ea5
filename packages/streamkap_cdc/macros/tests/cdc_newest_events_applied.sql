{# The few-minute alarm of a current-state table: a key whose newest event lost to an
   older applied one (a stale row, such as an undeclared topic re-creation once caused).

   Written from the facts, not from the engine: it calls none of the engine's macros.
   Bounded by the window, so it fits the few-minute jobs: it reads the change log
   ingested in the two lookbacks before the engine's next window (events every run has
   settled: the engine holds none of them back), and the rows of their keys.

   Per key, among those events, the newest delivery that no other one there shows to be
   a redelivery (equal but for its ingestion time, or delivered after it with both a
   lower offset and an earlier commit time). It is lost when the key's row holds an
   event delivered before it that is neither the same event nor later in both offset
   and commit time. A key without a row is the nightly audit's (cdc_matches_change_log).

   Each failing row names the key, the lost event's ingestion time, and what to do when
   the data could not tell: declare the restart in var cdc_offset_resets. Warns. #}
{% test cdc_newest_events_applied(model, source_name, table_name, unique_key) %}
    {{ config(severity='warn', tags=['cdc_alarm']) }}
    {%- set change_log = source(source_name, table_name) -%}
    {%- set key_names = ([unique_key] if unique_key is string else unique_key | list) | map('lower') | list -%}
    {%- set lookback_ms = (var('cdc_lookback_minutes', 15) | float * 60000) | int -%}

    {#- The engine's watermark, read when the test runs: the bounds are literals. -#}
    {%- set applied_through = none -%}
    {%- set log_names = {} -%}
    {%- set state_names = {} -%}
    {%- if execute -%}
        {%- set watermarks = adapter.get_relation(database=model.database, schema=model.schema,
                                                  identifier='cdc_watermarks') -%}
        {%- if watermarks -%}
            {%- set applied_through = run_query("select max(applied_through_ms) from " ~ watermarks
                ~ " where table_name = '" ~ model.identifier ~ "'").columns[0].values()[0] -%}
        {%- endif -%}
        {%- do log_names.update(streamkap_cdc.cdc_test_column_names(change_log)) -%}
        {%- do state_names.update(streamkap_cdc.cdc_test_column_names(model)) -%}
    {%- endif -%}
    {%- set sequence = ['_streamkap_source_ts_ms', '_streamkap_ts_ms', '_streamkap_offset', '__deleted'] -%}
    {#- Compared: the columns both have, but the ingestion time and the flag. -#}
    {%- set compared = [] -%}
    {%- for name in log_names if name in state_names and name not in ['_streamkap_ts_ms', '__deleted'] -%}
        {%- do compared.append(name) -%}
    {%- endfor -%}
    {%- set lq = {} -%}
    {%- for name in log_names %}{% do lq.update({name: adapter.quote(log_names[name])}) %}{% endfor -%}
    {%- set sq = {} -%}
    {%- for name in state_names %}{% do sq.update({name: adapter.quote(state_names[name])}) %}{% endfor -%}

{%- if applied_through is none or not compared %}

{#- Nothing applied yet: nothing can have lost. #}
select cast(null as varchar) as problem where 1 = 0
{%- else %}
{%- set settled_through = applied_through | int - lookback_ms %}

with events as (

    select
        {%- for name in compared %}
        {{ lq[name] }} as {{ adapter.quote('c_' ~ name) }},
        {%- endfor %}
        {{ lq['_streamkap_ts_ms'] }} as alarm_ingested_ms,
        coalesce(lower(cast({{ lq['__deleted'] }} as varchar)) = 'true', false) as alarm_deleted
    from {{ change_log }}
    where {{ lq['_streamkap_ts_ms'] }} >= {{ settled_through - 2 * lookback_ms }}
        and {{ lq['_streamkap_ts_ms'] }} < {{ settled_through }}
        {%- for name in key_names %}
        and {{ lq[name] }} is not null
        {%- endfor %}
        and {{ lq['_streamkap_offset'] }} >= 0
        and {{ lq['_streamkap_source_ts_ms'] }} is not null

),

first_deliveries as (

    select events.* from events
    where not exists (
        select 1 from events as earlier
        where earlier.alarm_ingested_ms < events.alarm_ingested_ms
            {%- for name in key_names %}
            and earlier.{{ adapter.quote('c_' ~ name) }} = events.{{ adapter.quote('c_' ~ name) }}
            {%- endfor %}
            and (
                (earlier.alarm_deleted = events.alarm_deleted
                {%- for name in compared %}
                 and earlier.{{ adapter.quote('c_' ~ name) }} is not distinct from events.{{ adapter.quote('c_' ~ name) }}
                {%- endfor %})
                or (earlier.{{ adapter.quote('c__streamkap_offset') }} > events.{{ adapter.quote('c__streamkap_offset') }}
                    and earlier.{{ adapter.quote('c__streamkap_source_ts_ms') }} > events.{{ adapter.quote('c__streamkap_source_ts_ms') }})
            )
    )

),

newest as (

    select * from (
        select
            first_deliveries.*,
            row_number() over (
                partition by {% for name in key_names %}{{ adapter.quote('c_' ~ name) }}{{ ', ' if not loop.last }}{% endfor %}
                order by alarm_ingested_ms desc, {{ adapter.quote('c__streamkap_offset') }} desc
            ) as alarm_rank
        from first_deliveries
    ) as ranked
    where alarm_rank = 1

)

select
    'lost' as problem,
    {%- for name in key_names %}
    newest.{{ adapter.quote('c_' ~ name) }} as {{ adapter.quote(name) }},
    {%- endfor %}
    newest.alarm_ingested_ms as newest_ingested_ms,
    'if the topic of {{ table_name }} was recreated, declare var cdc_offset_resets: {{ '{' ~ table_name ~ ': [<_streamkap_ts_ms of its first event>]}' }} and rebuild it with --full-refresh' as remedy
from newest
inner join {{ model }} as current_state
    on {% for name in key_names %}current_state.{{ sq[name] }} = newest.{{ adapter.quote('c_' ~ name) }}{{ ' and ' if not loop.last }}{% endfor %}
where current_state.{{ sq['_streamkap_ts_ms'] }} < newest.alarm_ingested_ms
    {#- The row's event is later in both offset and commit time: the newest is a redelivery. #}
    and not (current_state.{{ sq['_streamkap_offset'] }} > newest.{{ adapter.quote('c__streamkap_offset') }}
             and current_state.{{ sq['_streamkap_source_ts_ms'] }} > newest.{{ adapter.quote('c__streamkap_source_ts_ms') }})
    {#- The row is the newest event itself (it may carry another delivery's ingestion time). #}
    and not (not newest.alarm_deleted
        {%- for name in compared %}
        and current_state.{{ sq[name] }} is not distinct from newest.{{ adapter.quote('c_' ~ name) }}
        {%- endfor %})
{%- endif %}

{% endtest %}
