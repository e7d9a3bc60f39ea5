{# The columns of `relation` by lower-cased name: {name: name as the warehouse spells it}.
   Shared by the audit and the alarm, which call no macro of the engine. #}
{% macro cdc_test_column_names(relation) %}
    {%- set names = {} -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do names.update({column.name | lower: column.name}) -%}
    {%- endfor -%}
    {{ return(names) }}
{% endmacro %}
