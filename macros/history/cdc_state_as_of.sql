{# A table as it was at a moment, from its history model: the version of each key in
   force then, with the current-state model's columns (Magento's and the sequence of
   the version's last event). A parenthesized subquery, to use where a model reads the
   current state, e.g.
     select * from {{ cdc_state_as_of(ref('history_magento__sales_order'), as_of_timestamp()) }} as orders
   `at` is SQL of a UTC timestamp without time zone; a bare 'YYYY-MM-DD[ HH:MM:SS]'
   text is cast for you. #}
{% macro cdc_state_as_of(history_model, at) %}
    {%- set text = at | string | trim -%}
    {%- if modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9:.]+)?$', text) -%}
        {%- set at = "cast('" ~ text | replace('T', ' ') ~ "' as " ~ type_timestamp_ntz() ~ ")" -%}
    {%- endif -%}
    {{- return('(select * exclude (version_number, valid_from, valid_to, is_current)\n'
               ~ ' from ' ~ history_model ~ '\n'
               ~ ' where valid_from <= ' ~ at ~ ' and (valid_to is null or valid_to > ' ~ at ~ '))') -}}
{% endmacro %}
