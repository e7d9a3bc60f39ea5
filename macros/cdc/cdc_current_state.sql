{# Current state of one Streamkap change log: the latest event of each key. #}
{% macro cdc_current_state(source_name, table_name, unique_key, lookback_minutes=none) %}
    {%- set key_names = cdc_key_names(unique_key, source_name ~ '.' ~ table_name) -%}
    {%- set lookback_minutes = cdc_lookback_minutes(lookback_minutes) -%}
    {#- Magento's table name as the relation name: legacy SQL repoints by schema only. -#}
    {{- config(unique_key=key_names, alias=table_name) -}}
    {%- set change_log = source(source_name, table_name) -%}
    {%- set window_start = cdc_window_start(this, lookback_minutes) if execute and is_incremental() else none -%}
    {{- cdc_latest_events(change_log, key_names, window_start) -}}
{%- endmacro %}


{# The latest event of each key among the events ingested from `window_start` on
   (epoch ms; none reads the whole change log), with __deleted as a boolean. #}
{% macro cdc_latest_events(change_log, key_names, window_start=none) %}
    {%- if not execute -%}
        {#- Parsing needs only the config and source() calls; the SQL needs the warehouse. -#}
        {{- return('select 1 as parsing') -}}
    {%- endif -%}
    {%- set columns = cdc_change_log_columns(change_log, key_names) -%}
    {%- set key_columns = cdc_pick_columns(columns, key_names) -%}
    {%- set payload = columns | reject('in', cdc_pick_columns(columns, ['__deleted'])) | list -%}
    {%- set placeable -%}
        {%- for column in key_columns %}
        {{ column.quoted }} is not null and
        {%- endfor %}
        _streamkap_source_ts_ms is not null
        and _streamkap_offset is not null
        and _streamkap_ts_ms is not null
    {%- endset %}

with change_log as (

    select
        {%- for column in payload %}
        {{ column.quoted }},
        {%- endfor %}
        {{ cdc_is_deleted('__deleted') }} as __deleted

    from {{ change_log }}
    {#- Events without a key or a sequence cannot be placed; the source tests report them. #}
    where {{ placeable }}
        {%- if window_start is not none %}
        {#- A literal bound, so the scan prunes to the new events. #}
        and _streamkap_ts_ms >= {{ window_start }}
        {%- endif %}

),

latest as (

    select * from change_log
    qualify row_number() over (
        partition by {{ key_columns | map(attribute='quoted') | join(', ') }}
        order by {{ cdc_event_order('change_log', columns) | join(' desc, ') }} desc
    ) = 1

)
{%- if window_start is none %}

select * from latest
{%- else %},

replayed as (

    {#- An event committed before the window is a replay or very late. A newer event
        of its key may lie before the window, applied long ago, and its row since
        removed by a delete: then the replay must not bring the row back. #}
    select
        {{ key_columns | map(attribute='quoted') | join(', ') }},
        _streamkap_source_ts_ms,
        _streamkap_offset,
        _streamkap_ts_ms

    from latest
    where _streamkap_source_ts_ms < {{ window_start }} and not __deleted

),

superseded as (

    {#- Usually empty, and then nothing is read. A newer event was ingested after the
        replayed one was committed (an hour of margin for clock skew). #}
    select distinct
        {%- for column in key_columns %}
        replayed.{{ column.quoted }}{{ ',' if not loop.last }}
        {%- endfor %}

    from replayed
    inner join {{ change_log }} as history
        on {% for column in key_columns -%}
            history.{{ column.quoted }} = replayed.{{ column.quoted }}
            {%- if not loop.last %} and {% endif %}
        {%- endfor %}
    where
        history._streamkap_ts_ms < {{ window_start }}
        and history._streamkap_ts_ms >= (select min(_streamkap_source_ts_ms) - 3600000 from replayed)
        and {{ cdc_is_newer('history', 'replayed', []) }}

)

select latest.*
from latest
where not exists (
    select 1 from superseded
    where {% for column in key_columns -%}
        superseded.{{ column.quoted }} = latest.{{ column.quoted }}
        {%- if not loop.last %} and {% endif %}
    {%- endfor %}
)
{%- endif %}
{%- endmacro %}
