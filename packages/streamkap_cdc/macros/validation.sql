{# The change log's columns, after checking it exists and has the Streamkap columns and the key. #}
{% macro cdc_checked_columns(columns, key_names, change_log) %}
    {%- if columns | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "cdc_current_state: change log " ~ change_log ~ " does not exist or has no columns.") }}
    {%- endif -%}
    {%- set present = columns | map(attribute='name') | map('lower') | list -%}
    {%- set missing = [] -%}
    {%- for name in ['_streamkap_source_ts_ms', '_streamkap_ts_ms', '_streamkap_offset', '__deleted'] -%}
        {%- if name not in present %}{% do missing.append(name) %}{% endif -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            "cdc_current_state: change log " ~ change_log ~ " lacks the Streamkap column(s) "
            ~ missing | join(', ') ~ ".") }}
    {%- endif -%}
    {%- for name in key_names -%}
        {%- if name | lower not in present -%}
            {{ exceptions.raise_compiler_error(
                "cdc_current_state: unique_key column '" ~ name ~ "' is not a column of "
                ~ change_log ~ ".") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{# Schema evolution: a column added to the change log is added to the current state.
   A column of the current state that the change log no longer has is an error: its
   values could no longer be kept current. #}
{% macro cdc_add_new_columns(target, change_log, log_columns, target_columns) %}
    {%- set in_target = target_columns | map(attribute='name') | map('lower') | list -%}
    {%- set in_log = log_columns | map(attribute='name') | map('lower') | list -%}
    {%- set gone = in_target | reject('in', in_log) | list -%}
    {%- if gone -%}
        {{ exceptions.raise_compiler_error(
            "cdc_current_state: column(s) " ~ gone | join(', ') ~ " of " ~ target ~ " are no longer in its change log "
            ~ change_log ~ ". Restore them in the landing table, or rebuild with --full-refresh to drop them.") }}
    {%- endif -%}
    {#- A changed type (int to text, a widened decimal) would be cast on merge, or fail
        half-way: stop, naming the column, until a rebuild takes the new type. -#}
    {%- set target_types = {} -%}
    {%- for column in target_columns -%}
        {%- do target_types.update({column.name | lower: column.data_type}) -%}
    {%- endfor -%}
    {%- for column in log_columns if column.name | lower in target_types and column.name | lower != '__deleted'
            and (column.data_type | upper) != (target_types[column.name | lower] | upper) -%}
        {{ exceptions.raise_compiler_error(
            "cdc_current_state: column " ~ column.name ~ " of change log " ~ change_log ~ " is now "
            ~ column.data_type ~ ", but " ~ target_types[column.name | lower] ~ " in " ~ target
            ~ ". Rebuild with --full-refresh to take the new type.") }}
    {%- endfor -%}
    {%- set added = [] -%}
    {%- for column in log_columns if column.name | lower not in in_target -%}
        {%- do added.append(column.name | lower) -%}
    {%- endfor -%}
    {%- if added -%}
        {#- Rare: only now are the change log's column types needed. -#}
        {%- set typed = [] -%}
        {%- for column in adapter.get_columns_in_relation(change_log) if column.name | lower in added -%}
            {#- Named as the current state spells columns (see cdc_log_column). -#}
            {%- do typed.append(api.Column.create(streamkap_cdc.cdc_state_name(column.name), column.data_type)) -%}
        {%- endfor -%}
        {%- do alter_relation_add_remove_columns(target, typed, none) -%}
    {%- endif -%}
{% endmacro %}
