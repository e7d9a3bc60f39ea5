{# The Emarsys field mapping of a synced mart is declared once, as column meta
   (`emarsys_field_id`, a number or a rendered var). This test reads the graph
   and returns one row per problem:
   - a field id that is not a whole number above 0 (e.g. a var set to text);
   - two columns of the mart mapped to the same Emarsys field;
   - a sync key column (email) not mapped to the key field (3);
   - no Hightouch exposure (meta.hightouch) depending on the mart;
   - an exposure lacking sync_id, sync_slug or sync_name, or whose
     field_mapping differs from the columns' meta (other columns or ids).
   The exposures come from the Hightouch workspace (scripts/hightouch_exposures.py
   writes field_mapping; a file from Hightouch's own exposures sync has none, and
   then `--check` compares the mapping with the workspace instead).
   Attach it to the model, not to a column. #}
{% test emarsys_field_mapping(model, sync_key='email', sync_key_field_id=3) %}

{%- set problems = [] -%}
{%- if execute -%}
    {%- if model.identifier is not defined -%}
        {{ exceptions.raise_compiler_error(
            "emarsys_field_mapping: attach the test to a model, without a `where` config.") }}
    {%- endif -%}

    {#- The tested model's node: the model built into this relation. -#}
    {%- set found = namespace(node=none) -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
        {%- if node.alias | lower == model.identifier | lower
            and node.schema | lower == model.schema | lower -%}
            {%- set found.node = node -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if found.node is none -%}
        {{ exceptions.raise_compiler_error(
            "emarsys_field_mapping: no model node builds " ~ model ~ ".") }}
    {%- endif -%}
    {%- set node = found.node -%}

    {#- Field ids from the columns' meta. -#}
    {%- set mapping = {} -%}
    {%- for column in node.columns.values() if 'emarsys_field_id' in (column.meta or {}) -%}
        {%- set raw = column.meta['emarsys_field_id'] -%}
        {%- set text = raw | string | trim -%}
        {%- if raw is boolean or not text.isdigit() or text | int <= 0 -%}
            {%- do problems.append(node.name ~ '.' ~ column.name
                ~ ': emarsys_field_id must be a whole number above 0, got ' ~ raw) -%}
            {%- do mapping.update({column.name | lower: text}) -%}
        {%- else -%}
            {%- do mapping.update({column.name | lower: text | int}) -%}
        {%- endif -%}
    {%- endfor -%}

    {#- One column per field. -#}
    {%- set columns_by_field = {} -%}
    {%- for name, field_id in mapping.items() -%}
        {%- do columns_by_field.setdefault(field_id, []).append(name) -%}
    {%- endfor -%}
    {%- for field_id, names in columns_by_field.items() if names | length > 1 -%}
        {%- do problems.append(node.name ~ ': Emarsys field ' ~ field_id
            ~ ' is mapped from several columns: ' ~ (names | sort | join(', '))) -%}
    {%- endfor -%}

    {#- The key the sync upserts on. -#}
    {%- if mapping.get(sync_key | lower) != sync_key_field_id -%}
        {%- do problems.append(node.name ~ ': sync key column ' ~ sync_key
            ~ ' must map to Emarsys field ' ~ sync_key_field_id) -%}
    {%- endif -%}

    {#- The Hightouch exposures that sync this model to Emarsys. -#}
    {%- set syncs = [] -%}
    {%- for exposure in graph.exposures.values()
        if node.unique_id in exposure.depends_on.nodes -%}
        {%- set hightouch = (exposure.meta or {}).get('hightouch') or {} -%}
        {%- if hightouch and hightouch.get('destination', 'emarsys') == 'emarsys' -%}
            {%- do syncs.append(exposure.name) -%}
            {%- for key in ['sync_id', 'sync_slug', 'sync_name'] if not hightouch.get(key) -%}
                {%- do problems.append('exposure ' ~ exposure.name
                    ~ ': meta.hightouch.' ~ key ~ ' is missing') -%}
            {%- endfor -%}
            {%- if hightouch.get('field_mapping') is not none -%}
            {%- set synced = {} -%}
            {%- for name, raw in (hightouch.get('field_mapping') or {}).items() -%}
                {%- set text = raw | string | trim -%}
                {%- do synced.update({name | lower: text | int if text.isdigit() else text}) -%}
            {%- endfor -%}
            {%- for name in (mapping.keys() | list + synced.keys() | list) | unique | sort -%}
                {%- if mapping.get(name) != synced.get(name) -%}
                    {%- do problems.append('exposure ' ~ exposure.name ~ ': column ' ~ name
                        ~ ' maps to ' ~ synced.get(name, 'nothing') ~ ' but ' ~ node.name
                        ~ ' declares ' ~ mapping.get(name, 'nothing')) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if syncs | length == 0 -%}
        {%- do problems.append(node.name ~ ': no Hightouch exposure syncs it to Emarsys') -%}
    {%- endif -%}
{%- endif %}

{% if problems -%}
    {%- for problem in problems %}
select cast('{{ problem | replace("'", "''") }}' as {{ dbt.type_string() }}) as problem
{% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- else -%}
select problem
from (select cast(null as {{ dbt.type_string() }}) as problem) as no_problems
where problem is not null
{%- endif %}

{% endtest %}
