{# Change-log events the current state cannot place, so cdc_current_state leaves them
   out: no commit time, offset or ingestion time, a negative offset, or a __deleted
   value that is neither true nor false (NULL counts as false). Null keys are reported by not_null tests on the key columns. #}
{% test streamkap_events_are_placeable(model) %}
    {{ config(severity='warn') }}

select *
from {{ model }}
where
    _streamkap_source_ts_ms is null
    or _streamkap_offset is null
    or _streamkap_offset < 0
    or _streamkap_ts_ms is null
    or lower(cast(__deleted as varchar)) not in ('true', 'false')

{% endtest %}
