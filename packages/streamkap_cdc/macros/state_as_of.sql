{# A table as it was at a moment, from its history model: the version of each key in
   force then, with the current-state model's columns (the source's and the sequence of
   the version's last event). A parenthesized subquery, to use where a model reads the
   current state, e.g.
     select * from {{ streamkap_cdc.cdc_state_as_of(ref('history_orders'), '2026-11-30 09:00:00') }} as orders
   `at` is SQL of a UTC timestamp without time zone; a bare 'YYYY-MM-DD[ HH:MM:SS]'
   text is cast for you. #}
{% macro cdc_state_as_of(history_model, at) %}
    {%- set text = at | string | trim -%}
    {%- if modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9:.]+)?$', text) -%}
        {%- set at = "cast('" ~ text | replace('T', ' ') ~ "' as " ~ streamkap_cdc.type_timestamp_ntz() ~ ")" -%}
    {%- endif -%}
    {{- return('(select * exclude (version_number, valid_from, valid_to, is_current)\n'
               ~ ' from ' ~ history_model ~ '\n'
               ~ ' where valid_from <= ' ~ at ~ ' and (valid_to is null or valid_to > ' ~ at ~ '))') -}}
{% endmacro %}


{# run-operation: writes the state of every table with a history model as of `at` into
   `schema`, as tables named like the current-state relations (the source tables' names),
   so that a target whose current-state schema is `schema` rebuilds any model reading
   only those tables as it was at `at`:
     dbt run-operation cdc_write_states_as_of --args '{at: "2026-11-30 09:00:00", schema: pit_shop, model: customer_report}'
     dbt seed --target pit && dbt run --target pit -s +customer_report --exclude config.materialized:cdc_current_state
   With `model`, refuses when a current-state table the model reads has no history
   model: that table's past state is unknown, and the rebuild would not be exact. A
   model configured `cdc_lookup: true` is not followed: its readers only look rows up in
   it on incremental runs, and a rebuild does not read it (leave it out of the rebuild:
   --exclude config.cdc_lookup:true); tables reached only through it get an empty state. #}
{% macro cdc_write_states_as_of(at, schema, model=none) %}
    {%- set histories = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.config.materialized == 'cdc_history' -%}
        {%- do histories.update({node.config.cdc_change_log['table_name'] | lower: node}) -%}
    {%- endfor -%}
    {%- if model is not none -%}
        {%- set found = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
                                              | selectattr('name', 'equalto', model) | list -%}
        {%- if not found -%}
            {{ exceptions.raise_compiler_error("cdc_write_states_as_of: no model named '" ~ model ~ "'.") }}
        {%- endif -%}
        {%- set read = streamkap_cdc.cdc_current_state_ancestors([found[0].unique_id], false) -%}
        {%- set missing = [] -%}
        {%- for node in read if node.config.cdc_change_log['table_name'] | lower not in histories -%}
            {%- do missing.append(node.name) -%}
        {%- endfor -%}
        {%- if missing -%}
            {{ exceptions.raise_compiler_error(
                "cdc_write_states_as_of: " ~ model ~ " reads current-state models without a history model ("
                ~ missing | sort | join(', ') ~ "); add history models (cdc_history) of their tables first.") }}
        {%- endif -%}
        {#- Tables reached only through a lookup (cdc_lookup) are never read by the rebuild, but
            the staging views between them and the lookup are built: they get an empty state. -#}
        {%- set read_names = read | map(attribute='unique_id') | list -%}
        {%- for node in streamkap_cdc.cdc_current_state_ancestors([found[0].unique_id], true)
                if node.unique_id not in read_names and node.config.cdc_change_log['table_name'] | lower not in histories -%}
            {%- set current = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
            {%- set state = api.Relation.create(database=node.database, schema=schema,
                                                identifier=node.config.cdc_change_log['table_name'] | lower, type='table') -%}
            {%- do adapter.create_schema(state) -%}
            {%- call statement('cdc_write_empty_state') -%}
                {{ streamkap_cdc.cdc_create_table_as(state, 'select * from ' ~ current ~ ' where 1 = 0') }}
            {%- endcall -%}
            {{ log('cdc_write_states_as_of: ' ~ state ~ ' empty (read only through a lookup)', info=true) }}
        {%- endfor -%}
    {%- endif -%}
    {%- for table_name, node in histories | dictsort -%}
        {%- set history = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- set state = api.Relation.create(database=node.database, schema=schema, identifier=table_name, type='table') -%}
        {%- do adapter.create_schema(state) -%}
        {%- call statement('cdc_write_state_as_of') -%}
            {{ streamkap_cdc.cdc_create_table_as(state, 'select * from ' ~ streamkap_cdc.cdc_state_as_of(history, at) ~ ' as state') }}
        {%- endcall -%}
        {{ log('cdc_write_states_as_of: ' ~ state ~ ' as of ' ~ at, info=true) }}
    {%- endfor -%}
    {{ adapter.commit() }}
{% endmacro %}


{# The current-state models among the ancestors of `unique_ids` (nodes), walked through
   models configured `cdc_lookup: true` only when `through_lookups`. #}
{% macro cdc_current_state_ancestors(unique_ids, through_lookups) %}
    {%- set found = [] -%}
    {%- set seen = [] -%}
    {%- set todo = unique_ids | list -%}
    {#- Jinja has no while: the graph is walked breadth-first, one pass per node at most. -#}
    {%- for _ in range(graph.nodes | length) if todo -%}
        {%- set node = graph.nodes[todo.pop()] -%}
        {%- if node.config.materialized == 'cdc_current_state' -%}{%- do found.append(node) -%}{%- endif -%}
        {%- for parent in node.depends_on.nodes if parent in graph.nodes and parent not in seen
                                                    and (through_lookups or not graph.nodes[parent].config.get('cdc_lookup')) -%}
            {%- do seen.append(parent) -%}
            {%- do todo.append(parent) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
