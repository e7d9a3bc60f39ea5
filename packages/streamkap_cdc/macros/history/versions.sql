{# The versions of each key, from its events in the engine's total order (cdc_event_order):
   consecutive events whose tracked columns are equal make one version, holding the
   columns of its last event (untracked changes update it in place); a delete closes
   the open version and adds no row. valid_from is the commit time of the event that
   opened the version, raised to the latest commit time of any earlier event of the key,
   so that versions never overlap even when a snapshot's reads carry a later commit time
   than the changes ordered after them; valid_to is the moment of the next event that
   ends the version (a delete or the next version), NULL while current.
   `window` (cdc_history_window_spec; none reads every key's every event, as a rebuild
   shown by `dbt compile`): the run's literal bounds and the checkpoints a run starts
   each key from; the result then also holds the checkpoints to keep
   (cdc_history_checkpoint_rows), as rows of kind 'checkpoint' beside the 'version' rows. #}
{% macro cdc_history_sql(change_log, key_names, columns, tracked, offset_resets=[], window=none,
                         resnapshot_ms=none) %}
    {%- set key_columns = streamkap_cdc.cdc_pick_columns(columns, key_names) -%}
    {#- The change log is read by its own spelling; after the first CTE, names are the
        current state's (cdc_state_column), as in cdc_latest_events. -#}
    {%- set log_keys = [] -%}
    {%- set keys = [] -%}
    {%- for column in key_columns -%}
        {%- do log_keys.append(adapter.quote(column.name)) -%}
        {%- do keys.append(streamkap_cdc.cdc_state_column(column.name)) -%}
    {%- endfor -%}
    {%- set spelled = {} -%}
    {%- for name in ['_streamkap_source_ts_ms', '_streamkap_ts_ms', '_streamkap_offset', '__deleted'] -%}
        {%- do spelled.update({name: streamkap_cdc.cdc_log_column(columns, name)}) -%}
    {%- endfor -%}
    {%- set payload = columns | reject('in', streamkap_cdc.cdc_pick_columns(columns, ['__deleted'])) | list -%}
    {%- set source_columns = streamkap_cdc.cdc_history_source_columns(columns) -%}
    {%- set sequence = streamkap_cdc.cdc_pick_columns(columns, ['_streamkap_source_ts_ms', '_streamkap_ts_ms', '_streamkap_offset']) -%}
    {%- set by_key = 'partition by ' ~ keys | join(', ') -%}
    {%- set placeable -%}
        {%- for key in log_keys %}
        {{ key }} is not null and
        {%- endfor %}
        {{ spelled['_streamkap_source_ts_ms'] }} is not null
        and {{ spelled['_streamkap_offset'] }} >= 0
        and {{ spelled['_streamkap_ts_ms'] }} is not null
        and ({{ spelled['__deleted'] }} is null
             or lower(cast({{ spelled['__deleted'] }} as varchar)) in ('true', 'false'))
    {%- endset %}

    {%- set ts, commit_ts = spelled['_streamkap_ts_ms'], spelled['_streamkap_source_ts_ms'] -%}
    {%- set window = window or {} -%}
    {%- set checkpoints, lookup = window.get('checkpoints'), window.get('lookup') -%}
    {%- set read_log -%}
        select
            {%- for column in payload %}
            {{ streamkap_cdc.cdc_read_column(column) }},
            {%- endfor %}
            {{ streamkap_cdc.cdc_is_deleted(spelled['__deleted']) }} as __deleted
        from {{ change_log }} as events
        {#- Events the engine cannot place are left out, as in the current state. #}
        where {{ placeable }}
    {%- endset %}

with

window_events as (

    {{ read_log }}
    {#- Literal bounds, so the scan prunes to the window. #}
    {%- if window.get('from_ms') is not none %}
        and {{ ts }} >= {{ window['from_ms'] }}
    {%- endif %}
    {%- if window.get('through_ms') is not none %}
        and {{ ts }} <= {{ window['through_ms'] }}
    {%- endif %}

),
{%- if lookup %}

earlier_events as (

    {#- Where the window's redeliveries of events before it find their originals: an
        original keeps its redelivery's commit time and was ingested at most a lookback
        before it (the bound on clock skew). #}
    {{ read_log }}
        and {{ ts }} >= {{ lookup['from_ms'] }} and {{ ts }} < {{ window['from_ms'] }}
        and {{ commit_ts }} between {{ lookup['commit_from_ms'] }} and {{ lookup['commit_to_ms'] }}
        and exists (
            select 1 from window_events
            where {% for key in keys -%}
                window_events.{{ key }} = events.{{ log_keys[loop.index0] }}{{ ' and ' if not loop.last }}
            {%- endfor %}
        )

),
{%- endif %}

change_log as (

    select window_events.*, false as _cdc_earlier from window_events
    {%- if lookup %}
    union all
    select earlier_events.*, true as _cdc_earlier from earlier_events
    {%- endif %}

),

first_deliveries as (

    {#- A redelivery is its original again (cdc_event_identity): it opens and moves
        nothing, and one of an event before the window is left out. #}
    select * from (
        select * from change_log
        qualify row_number() over (
            {{ by_key }}, {{ streamkap_cdc.cdc_generation('change_log', offset_resets) }}, {{ streamkap_cdc.cdc_event_identity('change_log', columns) }}
            order by _streamkap_ts_ms
        ) = 1
    ) as deliveries
    where not _cdc_earlier

),

events as (

    select
        {%- for column in payload %}
        {{ streamkap_cdc.cdc_state_column(column.name) }},
        {%- endfor %}
        __deleted,
        false as _cdc_start,
        cast(null as integer) as _cdc_version_count,
        cast(null as bigint) as _cdc_newest_commit_ms,
        cast(null as bigint) as _cdc_valid_from_ms,
        cast(null as integer) as _cdc_outlived
    from first_deliveries
    {%- if checkpoints %}
    {#- Events before a key's checkpoint are in it already (the window starts there,
        unless a run stopped between writing the checkpoints and its watermark). #}
    where not exists (
        select 1 from {{ checkpoints }} as reached
        where {% for key in keys -%}
            reached.{{ key }} = first_deliveries.{{ key }} and {% endfor -%}
            first_deliveries._streamkap_ts_ms < reached._cdc_boundary_ms
    )
    union all
    {#- Each touched key starts from its state before the window (cdc_history_checkpoint_rows). #}
    select
        {%- for column in payload %}
        {{ streamkap_cdc.cdc_state_column(column.name) }},
        {%- endfor %}
        __deleted,
        true as _cdc_start,
        _cdc_version_count,
        _cdc_newest_commit_ms,
        _cdc_valid_from_ms,
        _cdc_outlived
    from {{ checkpoints }} as checkpoint
    where exists (
        select 1 from first_deliveries
        where {% for key in keys -%}
            first_deliveries.{{ key }} = checkpoint.{{ key }}{{ ' and ' if not loop.last }}
        {%- endfor %}
    )
    {%- endif %}

),

numbered as (

    select
        events.*,
        row_number() over (
            {{ by_key }}
            order by case when _cdc_start then 0 else 1 end,
                {{ streamkap_cdc.cdc_event_order('events', columns, offset_resets) | join(', ') }}
        ) as event_number,
        {#- The versions numbered before the key's checkpoint are final. #}
        coalesce(max(_cdc_version_count) over ({{ by_key }}), 0) as _cdc_base
        {%- if resnapshot_ms is not none %},
        max(case when _cdc_start then _cdc_outlived
                 when {{ streamkap_cdc.cdc_outlived_resnapshot('_streamkap_ts_ms', '_streamkap_source_ts_ms', resnapshot_ms) }}
                 then 1 else 0 end) over ({{ by_key }}) as outlived_resnapshot
        {%- endif %}

    from events

),

steps as (

    select
        numbered.*,
        {#- The latest commit time so far: versions never start before an earlier one. #}
        max(case when _cdc_start then _cdc_newest_commit_ms else _streamkap_source_ts_ms end) over (
            {{ by_key }} order by event_number rows between unbounded preceding and current row
        ) as effective_ms,
        lag(__deleted) over ({{ by_key }} order by event_number) as previous_deleted
        {%- for column in tracked %},
        lag({{ streamkap_cdc.cdc_state_column(column.name) }}) over ({{ by_key }} order by event_number)
            as _cdc_previous_{{ loop.index }}
        {%- endfor %}

    from numbered

),

opened as (

    {#- A version opens at the first event, after a delete, or where a tracked column
        changes (NULL-safe: a change to or from NULL counts); a checkpoint continues. #}
    select
        steps.*,
        not _cdc_start and (coalesce(previous_deleted, true)
        {%- for column in tracked %}
            or coalesce(
                _cdc_previous_{{ loop.index }} <> {{ streamkap_cdc.cdc_state_column(column.name) }},
                not (_cdc_previous_{{ loop.index }} is null and {{ streamkap_cdc.cdc_state_column(column.name) }} is null)
            )
        {%- endfor %}) as opens_version

    from steps

),

numbered_versions as (

    select
        opened.*,
        _cdc_base + sum(case when opens_version and not __deleted then 1 else 0 end) over (
            {{ by_key }} order by event_number rows between unbounded preceding and current row
        ) as version_number,
        lead(effective_ms) over ({{ by_key }} order by event_number) as next_effective_ms

    from opened

),

versions as (

    {#- The version's last event holds its columns; the event after it ends it. #}
    select
        numbered_versions.*,
        min(case when _cdc_start then _cdc_valid_from_ms else effective_ms end) over ({{ by_key }}, version_number)
            as valid_from_ms

    from numbered_versions
    where not __deleted
    qualify row_number() over ({{ by_key }}, version_number order by event_number desc) = 1

)

{#- A key the last re-snapshot did not find was deleted at the source, unseen: its open
    version ends at the snapshot's start (or where it began, if later). #}
{%- set valid_to_ms = 'next_effective_ms' if resnapshot_ms is none else
        'case when next_effective_ms is null and outlived_resnapshot = 0 then greatest(valid_from_ms, '
        ~ resnapshot_ms ~ ') else next_effective_ms end' %}

select
    {%- for column in source_columns %}
    {{ streamkap_cdc.cdc_state_column(column.name) }},
    {%- endfor %}
    {%- for column in sequence %}
    {{ streamkap_cdc.cdc_state_column(column.name) }},
    {%- endfor %}
    cast(version_number as integer) as version_number,
    {{ streamkap_cdc.epoch_ms_to_timestamp('valid_from_ms') }} as valid_from,
    {{ streamkap_cdc.epoch_ms_to_timestamp(valid_to_ms) }} as valid_to,
    {{ valid_to_ms }} is null as is_current
    {%- if window %},
    'version' as _cdc_kind,
    _cdc_base,
    __deleted,
    cast(null as integer) as _cdc_version_count,
    cast(null as bigint) as _cdc_newest_commit_ms,
    cast(null as bigint) as _cdc_valid_from_ms,
    cast(null as integer) as _cdc_outlived,
    cast(null as bigint) as _cdc_boundary_ms
    {%- endif %}

from versions
{%- if window %}

union all

{{ streamkap_cdc.cdc_history_checkpoint_rows(source_columns + sequence, keys, window.get('boundary_ms'), resnapshot_ms) }}
{%- endif %}
{%- endmacro %}
