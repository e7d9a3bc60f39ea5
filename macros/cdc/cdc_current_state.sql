{# A current-state model: one line per Magento table, e.g.
     {{ cdc_current_state('magento', 'sales_order', unique_key='entity_id') }}
   The folder's `cdc_current_state` materialization plans and applies each run; this
   macro declares the model and renders the SQL of a rebuild from the whole change log,
   which is what `dbt compile` shows. #}
{% macro cdc_current_state(source_name, table_name, unique_key, lookback_minutes=none) %}
    {%- set key_names = cdc_key_names(unique_key, source_name ~ '.' ~ table_name) -%}
    {%- set lookback_minutes = cdc_lookback_minutes(lookback_minutes) -%}
    {#- Magento's table name as the relation name: legacy SQL repoints by schema only. -#}
    {{- config(unique_key=key_names, alias=table_name,
               cdc_change_log={'source_name': source_name, 'table_name': table_name},
               cdc_lookback_minutes=lookback_minutes) -}}
    {%- set change_log = source(source_name, table_name) -%}
    {%- if not execute or model.config.materialized == 'cdc_current_state' and flags.WHICH in ('run', 'build', 'retry') -%}
        {#- Parsing needs only the config and source() calls. A run renders its SQL in the
            materialization, from the columns it plans with: no second look-up here. -#}
        {{- return('select 1 as rendered_by_the_cdc_current_state_materialization') -}}
    {%- endif -%}
    {{- cdc_latest_events(change_log, key_names, cdc_change_log_columns(change_log, key_names),
                          offset_resets=cdc_offset_resets(table_name)) -}}
{%- endmacro %}


{# The latest event of each key among the events ingested from `window_start` on
   (epoch ms; none reads the whole change log), with __deleted as a boolean.
   `columns` are the change log's columns (dbt Column objects).

   Over the whole log, every redelivery collapses into its first delivery and the
   latest first delivery wins (cdc_event_order). After a re-snapshot (`resnapshot_ms`,
   see cdc_apply_resnapshot), a key without evidence since its start is gone.

   Over a window, a delivery whose original was ingested before the window cannot be
   told from a new event by the window alone, so each event is checked against what
   the run can read with literal bounds (Snowflake prunes micro-partitions on
   literals, never on a subquery's value): two margins (`margin_ms`, the lookback,
   which also bounds clock skew) of log before the window, and the log delivered within
   a margin of `held_range` (the commit times the previous run held back). An event
   repeating one of them, or dominated by one (cdc_is_repeat), or by the row it would
   replace in `target`, is a redelivery and is left out. The latest remaining event of
   each key carries __cdc_held_back (cdc_is_held_back): when its decision needs an
   original the run did not read, it waits a run. #}
{% macro cdc_latest_events(change_log, key_names, columns, window_start=none, margin_ms=0,
                           offset_resets=[], resnapshot_ms=none, held_range=none, target=none) %}
    {%- set key_columns = cdc_pick_columns(columns, key_names) -%}
    {%- set state_keys = [] -%}
    {%- for column in key_columns %}{% do state_keys.append(cdc_state_column(column.name)) %}{% endfor -%}
    {%- set output = [] -%}
    {%- for column in columns %}{% do output.append(cdc_state_column(column.name)) %}{% endfor -%}
    {%- set ts = cdc_log_column(columns, '_streamkap_ts_ms') -%}
    {%- set commit_ts = cdc_log_column(columns, '_streamkap_source_ts_ms') -%}

with change_log as (

    {{ cdc_read_events(change_log, key_names, columns) }}
        {%- if window_start is not none %}
        {#- A literal bound, so the scan prunes to the new events. #}
        and {{ ts }} >= {{ window_start }}
        {%- endif %}

),

deliveries as (

    select
        change_log.*,
        {{ cdc_generation('change_log', offset_resets) }} as __cdc_generation,
        {{ cdc_event_identity('change_log', columns) }} as __cdc_identity
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
        {{ cdc_generation('earlier', offset_resets) }} as __cdc_generation,
        {{ cdc_event_identity('earlier', columns) }} as __cdc_identity
    from (
        {{ cdc_read_events(change_log, key_names, columns) }}
            and {{ ts }} >= {{ window_start - 2 * margin_ms }} and {{ ts }} < {{ window_start }}
        {%- if held_range %}
        union all
        {{ cdc_read_events(change_log, key_names, columns) }}
            and {{ ts }} >= {{ held_range[0] - margin_ms }} and {{ ts }} <= {{ held_range[1] + margin_ms }}
            and {{ ts }} < {{ window_start - 2 * margin_ms }}
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
        where {{ cdc_same_key('earlier', 'deliveries', state_keys) }}
            and {{ cdc_is_repeat('deliveries', 'earlier', columns, offset_resets) }}
    )
        and not exists (
            select 1 from deliveries as before
            where {{ cdc_same_key('before', 'deliveries', state_keys) }}
                and before._streamkap_ts_ms < deliveries._streamkap_ts_ms
                and {{ cdc_is_repeat('deliveries', 'before', [], offset_resets) }}
        )
        {%- if target is not none %}
        and not exists (
            {#- An earlier delivery of the row's own event stays: the row takes it (cdc_merge_sql). #}
            select 1 from {{ target }} as applied
            where {{ cdc_same_key('applied', 'deliveries', state_keys) }}
                and {{ cdc_is_repeat('deliveries', 'applied', columns, offset_resets) }}
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
        on {{ cdc_same_key('applied', 'deliveries', state_keys) }}
    where {{ cdc_is_same_event('deliveries', 'applied', columns, offset_resets) }}
        and deliveries._streamkap_ts_ms < applied._streamkap_ts_ms
    group by {% for name in state_keys %}applied.{{ name }}{{ ', ' if not loop.last }}{% endfor %}

),
{%- endif %}

latest as (

    select
        first_deliveries.*
        {%- if resnapshot_ms is not none %},
        max(case when {{ cdc_outlived_resnapshot('_streamkap_ts_ms', '_streamkap_source_ts_ms', resnapshot_ms) }}
                 then 1 else 0 end) over (partition by {{ state_keys | join(', ') }}) as __cdc_evidence
        {%- endif %}
    from first_deliveries
    qualify row_number() over (
        partition by {{ state_keys | join(', ') }}
        order by {{ cdc_event_order('first_deliveries', columns, offset_resets) | join(' desc, ') }} desc
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
    {{ cdc_is_held_back('latest', 'current_state', state_keys[0], columns, offset_resets, window_start, margin_ms,
                        held_range, 'coalesce(row_first_delivery.delivered_ms, current_state._streamkap_ts_ms)') }}
        as __cdc_held_back
from latest
left join {{ target }} as current_state
    on {{ cdc_same_key('current_state', 'latest', state_keys) }}
left join row_first_delivery
    on {{ cdc_same_key('row_first_delivery', 'latest', state_keys) }}
{%- endif %}
{%- endmacro %}


{# The placeable events of a change log (a select ending in its where clause, so callers
   can add bounds), read by its own spelling and named as the current state spells
   columns, with __deleted as a boolean. Events without a key or a sequence, with a
   negative offset or a __deleted that is neither true nor false cannot be placed: they
   are left out, and the source tests report them. #}
{% macro cdc_read_events(change_log, key_names, columns) %}
    {%- set payload = columns | reject('in', cdc_pick_columns(columns, ['__deleted'])) | list -%}
    {%- set deleted = cdc_log_column(columns, '__deleted') %}
    select
        {%- for column in payload %}
        {{ cdc_read_column(column) }},
        {%- endfor %}
        {{ cdc_is_deleted(deleted) }} as __deleted
    from {{ change_log }}
    where
        {%- for column in cdc_pick_columns(columns, key_names) %}
        {{ adapter.quote(column.name) }} is not null and
        {%- endfor %}
        {{ cdc_log_column(columns, '_streamkap_source_ts_ms') }} is not null
        and {{ cdc_log_column(columns, '_streamkap_offset') }} >= 0
        and {{ cdc_log_column(columns, '_streamkap_ts_ms') }} is not null
        and ({{ deleted }} is null or lower(cast({{ deleted }} as varchar)) in ('true', 'false'))
{%- endmacro %}


{# True when the window's event `new` waits a run (see cdc_latest_events): whether it
   is a redelivery decides what it does, and its original, if any, may lie outside
   what the run read (cdc_is_unchecked). That is a key without a row (a redelivery of
   a deleted key's event must not bring it back) for an event other than a delete, or
   a row that `new` is later than only if it is no redelivery (cdc_needs_original).
   `old_key`: a key column of `old`, NULL when the key has no row; `old_delivered_ms`:
   see cdc_event_order. #}
{% macro cdc_is_held_back(new, old, old_key, columns, offset_resets, window_start, margin_ms, held_range=none,
                          old_delivered_ms=none) -%}
    ({{ cdc_is_unchecked(new ~ '._streamkap_source_ts_ms', window_start, margin_ms, held_range) }}
     and case
        when {{ old }}.{{ old_key }} is null then not {{ new }}.__deleted
        else {{ cdc_is_newer(new, old, columns, offset_resets, old_delivered_ms) }} and {{ cdc_needs_original(new, old) }}
     end)
{%- endmacro %}


{# SQL equating the key columns (`keys`, current-state spelling) of two aliases. #}
{% macro cdc_same_key(a, b, keys) -%}
    {%- for name in keys -%}{{ a }}.{{ name }} = {{ b }}.{{ name }}{{ ' and ' if not loop.last }}{%- endfor -%}
{%- endmacro %}


{# The window's events that wait a run after the MERGE (cdc_is_held_back of each key's
   latest delivery against the row the MERGE left), with the ingestion time of their
   key's first event in the window (first_ms) and their commit time (commit_ms), for
   cdc_record_watermark. A redelivery the MERGE left out may count too: the next run
   then looks up its original and lets it go. #}
{% macro cdc_held_back_events(change_log, target, key_names, columns, window_start, margin_ms, offset_resets,
                              held_range=none) %}
    {%- set state_keys = [] -%}
    {%- for column in cdc_pick_columns(columns, key_names) %}{% do state_keys.append(cdc_state_column(column.name)) %}{% endfor %}
                select incoming.__cdc_first_ms as first_ms, incoming._streamkap_source_ts_ms as commit_ms
                from (
                    select
                        window_events.*,
                        min(_streamkap_ts_ms) over (partition by {{ state_keys | join(', ') }}) as __cdc_first_ms
                    from (
                        {{ cdc_read_events(change_log, key_names, columns) }}
                            and {{ cdc_log_column(columns, '_streamkap_ts_ms') }} >= {{ window_start }}
                    ) as window_events
                    {#- The key's latest delivery: an older one waits only with it. #}
                    qualify row_number() over (
                        partition by {{ state_keys | join(', ') }} order by _streamkap_ts_ms desc, _streamkap_offset desc
                    ) = 1
                ) as incoming
                left join {{ target }} as current_state
                    on {{ cdc_same_key('current_state', 'incoming', state_keys) }}
                where {{ cdc_is_held_back('incoming', 'current_state', state_keys[0], columns, offset_resets, window_start,
                                          margin_ms, held_range) }}
{%- endmacro %}
