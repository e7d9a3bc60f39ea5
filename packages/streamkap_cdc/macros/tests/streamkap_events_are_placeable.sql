{# Change-log events the current state cannot place, so cdc_current_state leaves them
   out: no commit time, offset or ingestion time, a negative offset, or a __deleted
   value that is neither true nor false (NULL counts as false). Null keys are reported by not_null tests on the key columns. #}
{% test streamkap_events_are_placeable(model) %}
    {{ config(severity='warn') }}
    {#- The Streamkap columns as the change log spells them: upper-case or "quoted lowercase". -#}
    {%- set sk = {} -%}
    {%- set columns = adapter.get_columns_in_relation(model) if execute else [] -%}
    {%- for name in ['_streamkap_source_ts_ms', '_streamkap_ts_ms', '_streamkap_offset', '__deleted'] -%}
        {%- set found = columns | selectattr('name', 'in', [name, name | upper]) | map(attribute='name') | list -%}
        {%- do sk.update({name: adapter.quote(found[0]) if found else name}) -%}
    {%- endfor %}

select *
from {{ model }}
where
    {{ sk['_streamkap_source_ts_ms'] }} is null
    or {{ sk['_streamkap_offset'] }} is null
    or {{ sk['_streamkap_offset'] }} < 0
    or {{ sk['_streamkap_ts_ms'] }} is null
    or lower(cast({{ sk['__deleted'] }} as varchar)) not in ('true', 'false')

{% endtest %}
