{# Replays the whole change log and compares it with the current state. A full scan,
   so it is tagged for the nightly job. Keys whose latest event is newer than the
   newest event in the current state may not have been applied yet (Streamkap keeps
   writing while the test runs), so only settled keys are compared. #}
{% test cdc_matches_change_log(model, source_name, table_name, unique_key) %}
    {{ config(tags=['cdc_reconciliation']) }}
    {%- set key_names = cdc_key_names(unique_key, source_name ~ '.' ~ table_name) -%}
    {%- set compared = key_names + ['_streamkap_source_ts_ms', '_streamkap_offset'] -%}
    {%- set same_key -%}
        {% for name in key_names %}replayed.{{ name }} = current_state.{{ name }}{% if not loop.last %} and {% endif %}{% endfor %}
    {%- endset %}

with replayed as (
    {%- set change_log = source(source_name, table_name) %}
    {{ cdc_latest_events(change_log, key_names, cdc_change_log_columns(change_log, key_names) if execute else []) | indent(4) }}
),

current_state as (
    select * from {{ model }}
),

watermark as (
    select coalesce(max(_streamkap_ts_ms), 0) as newest_applied_ts_ms from current_state
),

expected as (
    select {{ compared | join(', ') }}
    from replayed
    where not __deleted
        and _streamkap_ts_ms <= (select newest_applied_ts_ms from watermark)
),

actual as (
    select {{ compared | join(', ') }}
    from current_state
    where not exists (
        select 1 from replayed
        where {{ same_key }}
            and replayed._streamkap_ts_ms > (select newest_applied_ts_ms from watermark)
    )
),

missing as (
    select * from expected
    except
    select * from actual
),

unexpected as (
    select * from actual
    except
    select * from expected
)

select 'missing from the current state' as problem, * from missing
union all
select 'absent from the change log replay' as problem, * from unexpected

{% endtest %}
