{# Reads a var that must be a whole number greater than 0 (a window length, a
   threshold) and fails compilation with a clear message when it is not. #}
{% macro positive_integer_var(name) %}
    {%- set value = var(name) -%}
    {%- set text = value | string | trim -%}
    {%- if value is boolean or not text.isdigit() or text | int <= 0 -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a whole number greater than 0; got '" ~ value ~ "'.") }}
    {%- endif -%}
    {{ return(text | int) }}
{% endmacro %}
