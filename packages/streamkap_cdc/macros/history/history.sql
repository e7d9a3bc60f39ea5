{# A history (SCD type 2) model: one line per source table, e.g.
     {{ streamkap_cdc.cdc_history('shop', 'orders', unique_key='order_id', track_columns=['state', 'status']) }}
   The folder's `cdc_history` materialization plans and applies each run (only the keys
   that new events touch); this macro declares the model and renders the SQL of a
   rebuild from the whole change log, which is what `dbt compile` shows. #}
{% macro cdc_history(source_name, table_name, unique_key, track_columns=none, lookback_minutes=none) %}
    {%- set key_names = streamkap_cdc.cdc_key_names(unique_key, source_name ~ '.' ~ table_name) -%}
    {%- set lookback_minutes = streamkap_cdc.cdc_lookback_minutes(lookback_minutes) -%}
    {%- if track_columns is not none and (track_columns is string or track_columns | length == 0) -%}
        {{ exceptions.raise_compiler_error(
            "cdc_history(" ~ source_name ~ "." ~ table_name ~ "): track_columns must be none or a "
            ~ "non-empty list of column names; got " ~ (track_columns | string) ~ ".") }}
    {%- endif -%}
    {{- config(cdc_change_log={'source_name': source_name, 'table_name': table_name},
               cdc_history_key=key_names, cdc_track_columns=track_columns,
               cdc_lookback_minutes=lookback_minutes) -}}
    {%- set change_log = source(source_name, table_name) -%}
    {%- if not execute or model.config.materialized == 'cdc_history' and flags.WHICH in ('run', 'build', 'retry') -%}
        {#- Parsing needs only the config and source() calls; a run renders in the materialization. -#}
        {{- return('select 1 as rendered_by_the_cdc_history_materialization') -}}
    {%- endif -%}
    {%- set columns = streamkap_cdc.cdc_change_log_columns(change_log, key_names) -%}
    {{- streamkap_cdc.cdc_history_sql(change_log, key_names, columns, streamkap_cdc.cdc_history_tracked(columns, key_names, track_columns, table_name),
                        offset_resets=streamkap_cdc.cdc_offset_resets(table_name)) -}}
{%- endmacro %}


{# The source table's columns of a change log: all but Streamkap's. #}
{% macro cdc_history_source_columns(columns) %}
    {%- set streamkap = ['_streamkap_source_ts_ms', '_streamkap_ts_ms', '_streamkap_offset', '__deleted'] -%}
    {{ return(columns | reject('in', streamkap_cdc.cdc_pick_columns(columns, streamkap)) | list) }}
{% endmacro %}


{# The tracked columns (dbt Column objects): `track_columns`, checked against the change
   log, or every source column but the key (a key never changes within its history). #}
{% macro cdc_history_tracked(columns, key_names, track_columns, table_name) %}
    {%- set source_columns = streamkap_cdc.cdc_history_source_columns(columns) -%}
    {%- if track_columns is none -%}
        {{ return(source_columns | reject('in', streamkap_cdc.cdc_pick_columns(columns, key_names)) | list) }}
    {%- endif -%}
    {%- set present = source_columns | map(attribute='name') | map('lower') | list -%}
    {%- for name in track_columns if name | lower not in present -%}
        {{ exceptions.raise_compiler_error(
            "cdc_history(" ~ table_name ~ "): track column '" ~ name ~ "' is not a source column of its change log.") }}
    {%- endfor -%}
    {{ return(streamkap_cdc.cdc_pick_columns(source_columns, track_columns)) }}
{% endmacro %}
