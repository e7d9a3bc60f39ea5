{# A text expression as a JSON value: a quoted, escaped JSON string, or null when
   the text is null. Characters are written with chr() because Snowflake reads a
   backslash in a string literal as an escape and DuckDB does not. #}
{% macro json_string_value(expression) -%}
    case
        when {{ expression }} is null then 'null'
        else chr(34) || replace(replace(replace(replace(replace(
            {{ expression }},
            chr(92), chr(92) || chr(92)),
            chr(34), chr(92) || chr(34)),
            chr(10), chr(92) || 'n'),
            chr(13), chr(92) || 'r'),
            chr(9), chr(92) || 't') || chr(34)
    end
{%- endmacro %}
