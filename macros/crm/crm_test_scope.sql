{# The rows a data test reads. In the run that recomputed an incremental CRM mart from its
   changes, the mart's data tests read only the units it recomputed: a unit is a whole
   partition of the mart's logic, so the other rows are those earlier runs wrote and
   tested, and a test's cost follows what changed, not the shop's size. A rebuild, a
   test run on its own (`dbt test`) and any other model read everything. A failed test
   holds the mart's mark back (cdc_commit_consumer_marks), so the failing rows are
   recomputed and tested again by the next run. A test's own `where` config still applies;
   emarsys_field_mapping reads the model's metadata, not its rows, and keeps the relation. #}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set unit = crm_tested_unit(relation) -%}
    {%- if unit is not none -%}
        {%- set recomputed = unit ~ " in (select recompute_value from " ~ crm_recompute_relation(relation) ~ ")" -%}
        {%- set where = recomputed ~ (" and (" ~ where ~ ")" if where else "") -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}


{# The unit column of the incremental CRM mart `relation` when this run recomputed it
   from its changes, else none. #}
{% macro crm_tested_unit(relation) %}
    {%- if not execute or 'nodes' not in graph or relation.identifier is none -%}{{ return(none) }}{%- endif -%}
    {%- if (model.get('test_metadata') or {}).get('name') == 'emarsys_field_mapping' -%}{{ return(none) }}{%- endif -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.alias == relation.identifier
                                           and node.schema == relation.schema
                                           and node.config.get('incremental_strategy') == 'crm_recompute' -%}
        {%- if streamkap_cdc.cdc_consumer_recomputed_in_this_run(relation) -%}
            {{ return(node.config.get('crm_recompute_by')) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}
