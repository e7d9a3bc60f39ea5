{# The streamkap_cdc package's timestamp helpers under their short names, which the
   staging and mart models use: the package holds the one dispatched definition. #}
{% macro type_timestamp_ntz() %}{{ return(streamkap_cdc.type_timestamp_ntz()) }}{% endmacro %}

{% macro epoch_ms_to_timestamp(epoch_ms) %}{{ return(streamkap_cdc.epoch_ms_to_timestamp(epoch_ms)) }}{% endmacro %}
