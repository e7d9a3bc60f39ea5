{# Checkpoints: per key, the state of its version chain just before the next run's
   window (the event before it: its row and whether it deleted, the latest commit time
   so far, how many versions were opened and when the open one began, and the window's
   start: the events it holds are those ingested before it). A run starts
   each touched key from its checkpoint and reads only the window's events, so it never
   reads a key's older events; the relation sits beside the history table, named
   after it with the suffix below. #}
{% macro cdc_history_checkpoints_relation(target) %}
    {{ return(target.incorporate(path={'identifier': target.identifier ~ '__cdc_checkpoints'})) }}
{% endmacro %}


{# The columns a checkpoint adds to the row of its event. #}
{% macro cdc_history_checkpoint_fields() %}
    {{ return(['__deleted', '_cdc_version_count', '_cdc_newest_commit_ms', '_cdc_valid_from_ms', '_cdc_outlived',
               '_cdc_boundary_ms']) }}
{% endmacro %}


{# Rows of kind 'checkpoint' for cdc_history_sql (its CTE numbered_versions): per key,
   its last event ingested before `boundary_ms` (the next window's start), with the
   columns of the 'version' rows. `row_columns`: the row's columns (dbt Column objects). #}
{% macro cdc_history_checkpoint_rows(row_columns, keys, boundary_ms, resnapshot_ms=none) %}
    {%- set by_key = 'partition by ' ~ keys | join(', ') %}
select
    {%- for column in row_columns %}
    {{ streamkap_cdc.cdc_state_column(column.name) }},
    {%- endfor %}
    cast(null as integer) as version_number,
    cast(null as {{ streamkap_cdc.type_timestamp_ntz() }}) as valid_from,
    cast(null as {{ streamkap_cdc.type_timestamp_ntz() }}) as valid_to,
    cast(null as boolean) as is_current,
    'checkpoint' as _cdc_kind,
    _cdc_base,
    __deleted,
    cast(version_number as integer) as _cdc_version_count,
    effective_ms as _cdc_newest_commit_ms,
    version_from_ms as _cdc_valid_from_ms,
    {{ 'outlived_resnapshot' if resnapshot_ms is not none else '0' }} as _cdc_outlived,
    {#- What the checkpoint holds: the key's events ingested before it. #}
    cast({{ boundary_ms if boundary_ms is not none else 'null' }} as bigint) as _cdc_boundary_ms
from (
    select
        numbered_versions.*,
        min(case when __deleted then null when _cdc_start then _cdc_valid_from_ms else effective_ms end)
            over ({{ by_key }}, version_number) as version_from_ms
    from numbered_versions
    {#- Later events are in the next window: it starts here. #}
    where {{ '_streamkap_ts_ms < ' ~ boundary_ms if boundary_ms is not none else 'false' }}
) as reached
qualify row_number() over ({{ by_key }} order by event_number desc) = 1
{%- endmacro %}


{# The literal bounds of a steady run (one query on the window, pruned by its literal
   start): the window is [window_start, through_ms], through_ms being the newest event
   now (the watermark the run records, so the next window starts where the checkpoints
   it writes stop). An event committed before `window_start` plus a lookback may
   repeat an event before the window (an original is ingested at most a lookback
   before its commit time): the run also reads the log from a lookback before the
   earliest such commit time to the window, at those commit times only. Returns the
   `window` argument of cdc_history_sql. #}
{% macro cdc_history_window_spec(change_log, columns, window_start, lookback_ms, checkpoints) %}
    {%- set ts = streamkap_cdc.cdc_log_column(columns, '_streamkap_ts_ms') -%}
    {%- set commit_ts = streamkap_cdc.cdc_log_column(columns, '_streamkap_source_ts_ms') -%}
    {%- set early = 'case when ' ~ commit_ts ~ ' < ' ~ (window_start + lookback_ms) ~ ' then ' ~ commit_ts ~ ' end' -%}
    {%- set row = run_query('select max(' ~ ts ~ '), min(' ~ early ~ '), max(' ~ early ~ ') from ' ~ change_log
                            ~ ' where ' ~ ts ~ ' >= ' ~ window_start).rows[0] -%}
    {%- set through_ms = none if row[0] is none else row[0] | int -%}
    {%- set lookup = none if row[1] is none else {
            'from_ms': (row[1] | int) - lookback_ms, 'commit_from_ms': row[1] | int, 'commit_to_ms': row[2] | int} -%}
    {{ return({'from_ms': window_start, 'through_ms': through_ms, 'lookup': lookup, 'checkpoints': checkpoints,
               'boundary_ms': none if through_ms is none else through_ms - lookback_ms}) }}
{% endmacro %}


{# The bounds of a run that recomputes every key (a rebuild, the nightly repair): the
   whole log up to its newest event now. #}
{% macro cdc_history_rebuild_spec(change_log, columns, lookback_ms) %}
    {%- set ts = streamkap_cdc.cdc_log_column(columns, '_streamkap_ts_ms') -%}
    {%- set newest = run_query('select max(' ~ ts ~ ') from ' ~ change_log).rows[0][0] -%}
    {%- set through_ms = none if newest is none else newest | int -%}
    {{ return({'from_ms': none, 'through_ms': through_ms, 'lookup': none, 'checkpoints': none,
               'boundary_ms': none if through_ms is none else through_ms - lookback_ms}) }}
{% endmacro %}


{# Replaces the checkpoints of the keys with one in `fold` (the 'checkpoint' rows of
   cdc_history_sql). `column_names`: the keys, the row's columns and the checkpoint
   fields. #}
{% macro cdc_history_checkpoint_merge_sql(checkpoints, fold, column_names, keys) %}
merge into {{ checkpoints }} as checkpoint
using (
    select {{ column_names | join(', ') }} from {{ fold }} where _cdc_kind = 'checkpoint'
) as reached
    on {% for key in keys %}checkpoint.{{ key }} = reached.{{ key }}{{ ' and ' if not loop.last }}{% endfor %}
when matched then update set
    {%- for name in column_names | reject('in', keys) %}
    {{ name }} = reached.{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
when not matched then insert ({{ column_names | join(', ') }})
    values (reached.{{ column_names | join(', reached.') }})
{% endmacro %}
