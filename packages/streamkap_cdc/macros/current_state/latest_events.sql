{# The latest event of each key among the events ingested from `window_start` on
   (epoch ms; none reads the whole change log), with __deleted as a boolean.
   `columns` are the change log's columns (dbt Column objects).

   Over the whole log, every redelivery collapses into its first delivery and the
   latest first delivery wins (cdc_event_order). After a re-snapshot (`resnapshot_ms`,
   see cdc_apply_resnapshot), a key without evidence since its start is gone.

   Over a window, a delivery whose original was ingested before the window cannot be
   told from a new event by the window alone, so each event is checked against what
   the run can read with literal bounds (Snowflake prunes micro-partitions on
   literals, never on a subquery's value): the log before the window from the reach of
   cdc_held_back_rule (`margin_ms` is the lookback, which also bounds clock skew), and the log delivered within
   a margin of `held_range` (the commit times the previous run held back). An event
   repeating one of them, or dominated by one (cdc_is_repeat), or by the row it would
   replace in `target`, is a redelivery and is left out. The latest remaining event of
   each key carries __cdc_held_back (cdc_is_held_back): when its decision needs an
   original the run did not read, it waits a run. #}
{% macro cdc_latest_events(change_log, key_names, columns, window_start=none, margin_ms=0,
                           offset_resets=[], resnapshot_ms=none, held_range=none, target=none) %}
    {%- set key_columns = streamkap_cdc.cdc_pick_columns(columns, key_names) -%}
    {%- set state_keys = [] -%}
    {%- for column in key_columns %}{% do state_keys.append(streamkap_cdc.cdc_state_column(column.name)) %}{% endfor -%}
    {%- set output = [] -%}
    {%- for column in columns %}{% do output.append(streamkap_cdc.cdc_state_column(column.name)) %}{% endfor -%}
    {%- set ts = streamkap_cdc.cdc_log_column(columns, '_streamkap_ts_ms') -%}
    {%- set commit_ts = streamkap_cdc.cdc_log_column(columns, '_streamkap_source_ts_ms') -%}
    {%- if window_start is not none -%}
        {#- How far before the window the originals of its events are read (the rule's reach). -#}
        {%- set reach_ms = streamkap_cdc.cdc_held_back_rule(commit_ts, window_start, margin_ms, held_range)['reach_ms'] -%}
    {%- endif %}

with change_log as (

    {{ streamkap_cdc.cdc_read_events(change_log, key_names, columns) }}
        {%- if window_start is not none %}
        {#- A literal bound, so the scan prunes to the new events. #}
        and {{ ts }} >= {{ window_start }}
        {%- endif %}

),

deliveries as (

    select
        change_log.*,
        {{ streamkap_cdc.cdc_generation('change_log', offset_resets) }} as __cdc_generation,
        {{ streamkap_cdc.cdc_event_identity('change_log', columns) }} as __cdc_identity
    from change_log

),
{%- if window_start is not none %}

earlier as (

    {#- What window events may repeat: the margin before the window (events committed
        since then were first delivered there at the earliest), and, for the commit times
        the previous run held back (a redelivery keeps its original's), the log delivered
        within a margin of them (an original delivered later than that, by a partition
        that lagged then, is the nightly repair's). #}
    select
        earlier.*,
        {{ streamkap_cdc.cdc_generation('earlier', offset_resets) }} as __cdc_generation,
        {{ streamkap_cdc.cdc_event_identity('earlier', columns) }} as __cdc_identity
    from (
        {{ streamkap_cdc.cdc_read_events(change_log, key_names, columns) }}
            and {{ ts }} >= {{ reach_ms }} and {{ ts }} < {{ window_start }}
        {%- if held_range %}
        union all
        {{ streamkap_cdc.cdc_read_events(change_log, key_names, columns) }}
            and {{ ts }} >= {{ held_range[0] - margin_ms }} and {{ ts }} <= {{ held_range[1] + margin_ms }}
            and {{ ts }} < {{ reach_ms }}
            and {{ commit_ts }} between {{ held_range[0] }} and {{ held_range[1] }}
        {%- endif %}
    ) as earlier

),
{%- endif %}

first_deliveries as (

    select * from deliveries
    {%- if window_start is not none %}
    where not exists (
        select 1 from earlier
        where {{ streamkap_cdc.cdc_same_key('earlier', 'deliveries', state_keys) }}
            and {{ streamkap_cdc.cdc_is_repeat('deliveries', 'earlier', columns, offset_resets) }}
    )
        and not exists (
            select 1 from deliveries as before
            where {{ streamkap_cdc.cdc_same_key('before', 'deliveries', state_keys) }}
                and before._streamkap_ts_ms < deliveries._streamkap_ts_ms
                and {{ streamkap_cdc.cdc_is_repeat('deliveries', 'before', [], offset_resets) }}
        )
        {%- if target is not none %}
        and not exists (
            {#- An earlier delivery of the row's own event stays: the row takes it (cdc_merge_sql). #}
            select 1 from {{ target }} as applied
            where {{ streamkap_cdc.cdc_same_key('applied', 'deliveries', state_keys) }}
                and {{ streamkap_cdc.cdc_is_repeat('deliveries', 'applied', columns, offset_resets) }}
                and deliveries._streamkap_ts_ms >= applied._streamkap_ts_ms
        )
        {%- endif %}
    {%- endif %}
    qualify row_number() over (
        partition by {{ state_keys | join(', ') }}, __cdc_generation, __cdc_identity
        order by _streamkap_ts_ms
    ) = 1

),

{%- if window_start is not none %}

row_first_delivery as (

    {#- A row applied from a redelivery, whose original became visible later: its place
        in the order is its first delivery's. #}
    select {% for name in state_keys %}applied.{{ name }}, {% endfor %}min(deliveries._streamkap_ts_ms) as delivered_ms
    from deliveries
    inner join {{ target }} as applied
        on {{ streamkap_cdc.cdc_same_key('applied', 'deliveries', state_keys) }}
    where {{ streamkap_cdc.cdc_is_same_event('deliveries', 'applied', columns, offset_resets) }}
        and deliveries._streamkap_ts_ms < applied._streamkap_ts_ms
    group by {% for name in state_keys %}applied.{{ name }}{{ ', ' if not loop.last }}{% endfor %}

),
{%- endif %}

latest as (

    select
        first_deliveries.*
        {%- if resnapshot_ms is not none %},
        max(case when {{ streamkap_cdc.cdc_outlived_resnapshot('_streamkap_ts_ms', '_streamkap_source_ts_ms', resnapshot_ms) }}
                 then 1 else 0 end) over (partition by {{ state_keys | join(', ') }}) as __cdc_evidence
        {%- endif %}
    from first_deliveries
    qualify row_number() over (
        partition by {{ state_keys | join(', ') }}
        order by {{ streamkap_cdc.cdc_event_order('first_deliveries', columns, offset_resets) | join(' desc, ') }} desc
    ) = 1

)
{%- if window_start is none %}

select {{ output | join(', ') }}
from latest
{%- if resnapshot_ms is not none %}
where __cdc_evidence = 1
{%- endif %}
{%- else %}

select
    latest.*,
    row_first_delivery.delivered_ms as __cdc_row_delivered_ms,
    {{ streamkap_cdc.cdc_is_held_back('latest', 'current_state', state_keys[0], columns, offset_resets, window_start, margin_ms,
                        held_range, 'coalesce(row_first_delivery.delivered_ms, current_state._streamkap_ts_ms)') }}
        as __cdc_held_back
from latest
left join {{ target }} as current_state
    on {{ streamkap_cdc.cdc_same_key('current_state', 'latest', state_keys) }}
left join row_first_delivery
    on {{ streamkap_cdc.cdc_same_key('row_first_delivery', 'latest', state_keys) }}
{%- endif %}
{%- endmacro %}


{# The placeable events of a change log (a select ending in its where clause, so callers
   can add bounds), read by its own spelling and named as the current state spells
   columns, with __deleted as a boolean. Events without a key or a sequence, with a
   negative offset or a __deleted that is neither true nor false cannot be placed: they
   are left out, and the source tests report them. #}
{% macro cdc_read_events(change_log, key_names, columns) %}
    {%- set payload = columns | reject('in', streamkap_cdc.cdc_pick_columns(columns, ['__deleted'])) | list -%}
    {%- set deleted = streamkap_cdc.cdc_log_column(columns, '__deleted') %}
    select
        {%- for column in payload %}
        {{ streamkap_cdc.cdc_read_column(column) }},
        {%- endfor %}
        {{ streamkap_cdc.cdc_is_deleted(deleted) }} as __deleted
    from {{ change_log }}
    where
        {%- for column in streamkap_cdc.cdc_pick_columns(columns, key_names) %}
        {{ adapter.quote(column.name) }} is not null and
        {%- endfor %}
        {{ streamkap_cdc.cdc_log_column(columns, '_streamkap_source_ts_ms') }} is not null
        and {{ streamkap_cdc.cdc_log_column(columns, '_streamkap_offset') }} >= 0
        and {{ streamkap_cdc.cdc_log_column(columns, '_streamkap_ts_ms') }} is not null
        and ({{ deleted }} is null or lower(cast({{ deleted }} as varchar)) in ('true', 'false'))
{%- endmacro %}


{# SQL equating the key columns (`keys`, current-state spelling) of two aliases. #}
{% macro cdc_same_key(a, b, keys) -%}
    {%- for name in keys -%}{{ a }}.{{ name }} = {{ b }}.{{ name }}{{ ' and ' if not loop.last }}{%- endfor -%}
{%- endmacro %}
