{# A landing column where no metadata is at hand (the source freshness query): quoted
   as written when var magento_landing_quoted_columns says Streamkap lands "quoted
   lowercase" columns, else bare (UPPERCASE unquoted, Streamkap's default). #}
{% macro cdc_landing_column(name) %}
    {{- return(adapter.quote(name) if var('magento_landing_quoted_columns', false) | string | lower == 'true' else name) -}}
{% endmacro %}
