{# A current-state model: one line per source table, e.g.
     {{ streamkap_cdc.cdc_current_state('shop', 'orders', unique_key='order_id') }}
   The folder's `cdc_current_state` materialization plans and applies each run; this
   macro declares the model and renders the SQL of a rebuild from the whole change log,
   which is what `dbt compile` shows. #}
{% macro cdc_current_state(source_name, table_name, unique_key, lookback_minutes=none) %}
    {%- set key_names = streamkap_cdc.cdc_key_names(unique_key, source_name ~ '.' ~ table_name) -%}
    {%- set lookback_minutes = streamkap_cdc.cdc_lookback_minutes(lookback_minutes) -%}
    {#- The source table's name as the relation name: SQL written against the source repoints by schema only. -#}
    {{- config(unique_key=key_names, alias=table_name,
               cdc_change_log={'source_name': source_name, 'table_name': table_name},
               cdc_lookback_minutes=lookback_minutes) -}}
    {%- set change_log = source(source_name, table_name) -%}
    {%- if not execute or model.config.materialized == 'cdc_current_state' and flags.WHICH in ('run', 'build', 'retry') -%}
        {#- Parsing needs only the config and source() calls. A run renders its SQL in the
            materialization, from the columns it plans with: no second look-up here. -#}
        {{- return('select 1 as rendered_by_the_cdc_current_state_materialization') -}}
    {%- endif -%}
    {{- streamkap_cdc.cdc_latest_events(change_log, key_names, streamkap_cdc.cdc_change_log_columns(change_log, key_names),
                          offset_resets=streamkap_cdc.cdc_offset_resets(table_name)) -}}
{%- endmacro %}
