{# The folder's query tag around a history run on Snowflake, as dbt-snowflake's own
   materializations set it (other engines have no query tags). Returns the tag to restore. #}
{% macro cdc_history_set_query_tag() %}
    {{- return(adapter.dispatch('cdc_history_set_query_tag', 'streamkap_cdc')()) -}}
{% endmacro %}


{% macro default__cdc_history_set_query_tag() %}{{ return(none) }}{% endmacro %}

{% macro snowflake__cdc_history_set_query_tag() %}{{ return(set_query_tag()) }}{% endmacro %}


{% macro cdc_history_unset_query_tag(original_query_tag) %}
    {{- return(adapter.dispatch('cdc_history_unset_query_tag', 'streamkap_cdc')(original_query_tag)) -}}
{% endmacro %}


{% macro default__cdc_history_unset_query_tag(original_query_tag) %}{{ return(none) }}{% endmacro %}

{% macro snowflake__cdc_history_unset_query_tag(original_query_tag) %}
    {{- return(unset_query_tag(original_query_tag)) -}}
{% endmacro %}
