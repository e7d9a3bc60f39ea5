{# Incremental CRM marts: each run recomputes only the "units" (emails, or customer ids)
   whose inputs changed since the mart's previous run, read from the change feeds of the
   current-state tables (streamkap_cdc, change_feed/), plus those whose membership moved
   with the clock; it deletes the mart's rows of those units and inserts what they now
   give (strategy crm_recompute). A unit is a whole partition of the mart's logic (all
   rows of an email), so recomputing it alone gives the rows a full build would.
   Planning happens while the model renders: bounds and as_of become literals in the
   SQL, and changed keys and units are small subqueries the scans are filtered by.
   See docs/crm.md. #}


{# The plan of this run of the mart: a dict with `mode` ('full': the whole logic;
   'changes': the caller then derives its units from `since`..`until` and calls
   crm_recompute_units), `as_of` (SQL literal), `as_of_text`, `previous_as_of` (SQL
   literal). `feeds`: the current-state relations the mart reads; a change to one of
   `rebuild_on` (reference tables: stores, customer groups) rebuilds the mart. #}
{% macro crm_recompute_plan(unit, feeds, rebuild_on=[]) %}
    {%- set plan = {'mode': 'full', 'unit': unit, 'as_of': as_of_timestamp(), 'units': none} -%}
    {%- if not execute or model.resource_type != 'model' or none in feeds -%}{{ return(plan) }}{%- endif -%}
    {#- Named columns: Snowflake names an unnamed one by its expression. -#}
    {%- set now = run_query("select cast(" ~ as_of_timestamp() ~ " as varchar) as as_of_text, cast("
                            ~ streamkap_cdc.current_utc_timestamp() ~ " as varchar) as now_text").rows[0] -%}
    {%- do plan.update({'as_of_text': now[0], 'as_of': streamkap_cdc.cdc_timestamp_literal(now[0]), 'until': now[1]}) -%}
    {%- set writes = flags.WHICH in ('run', 'build', 'retry') -%}
    {%- if not is_incremental() -%}
        {%- if writes %}{% do streamkap_cdc.cdc_set_pending_consumer_mark(this, now[1], now[0], true) %}{% endif -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set mark = streamkap_cdc.cdc_consumer_mark(this) -%}
    {#- A dict: a reason set inside a loop must outlive it. -#}
    {%- set why = {'reason': streamkap_cdc.cdc_feed_rebuild_reason(feeds + rebuild_on, mark['read_through'], now[1])} -%}
    {#- A rebuild whose mark was not committed left rows its tests failed or never read: the
        next run's tests would read only its units, so it rebuilds (and tests) again. -#}
    {%- if why['reason'] is none and mark['failed_rebuild'] -%}
        {%- do why.update({'reason': 'the previous rebuild did not pass'}) -%}
    {%- endif -%}
    {%- for relation in rebuild_on if why['reason'] is none -%}
        {%- set changes = streamkap_cdc.cdc_changes_since(relation, mark['read_through'], now[1]) -%}
        {%- if run_query("select count(*) as changes from (" ~ changes ~ ") as changes").rows[0][0] > 0 -%}
            {%- do why.update({'reason': relation.identifier ~ ' changed'}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if why['reason'] is none and (mark['as_of'] is none or run_query(
            "select " ~ plan['as_of'] ~ " < " ~ streamkap_cdc.cdc_timestamp_literal(mark['as_of']) ~ " as moved_back").rows[0][0]) -%}
        {%- do why.update({'reason': 'as_of moved back'}) -%}
    {%- endif -%}
    {%- set reason = why['reason'] -%}
    {%- if reason is not none -%}
        {%- do log(this.identifier ~ ": rebuilding in full (" ~ reason ~ ")", info=true) -%}
        {%- if writes %}{% do streamkap_cdc.cdc_set_pending_consumer_mark(this, now[1], now[0], true) %}{% endif -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- do plan.update({'mode': 'changes', 'since': mark['read_through'], 'writes': writes,
                        'previous_as_of': streamkap_cdc.cdc_timestamp_literal(mark['as_of'])}) -%}
    {{ return(plan) }}
{% endmacro %}


{# SQL of the before images `relation`'s feed recorded in the plan's bounds. #}
{% macro crm_changes(plan, relation) -%}
    {{ streamkap_cdc.cdc_changes_since(relation, plan['since'], plan['until']) }}
{%- endmacro %}


{# SQL of the values of `column` among the before images of `relation` in the plan's
   bounds: the changed primary keys, to look their after images up in the current state
   as `key in (...)`. A subquery, not a literal list: the engine builds it (it is small)
   and filters the current state's scan by it, where a literal list only skips blocks. #}
{% macro crm_changed_keys(plan, relation, column) -%}
    select {{ column }} from ({{ crm_changes(plan, relation) }}) as changes where {{ column }} is not null
{%- endmacro %}


{# Values as a SQL list for IN (...); NULL (which matches nothing) when empty. #}
{% macro crm_sql_list(values) %}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- do literals.append(value if value is number else "'" ~ (value | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return(literals | join(', ') if literals else 'null') }}
{% endmacro %}


{# Stores the units `units_sql` (one column, `unit`) gives in <mart>__recompute, read by
   the write step (crm_recompute strategy) and the mart's tests, and puts them in the plan
   as a subquery of that table (a literal list when the run writes nothing: compile). #}
{% macro crm_recompute_units(plan, units_sql) %}
    {%- set recompute = crm_recompute_relation(this) -%}
    {%- set select_units = "select distinct unit as recompute_value from (" ~ units_sql ~ ") as units where unit is not null" -%}
    {%- if plan['writes'] -%}
        {%- call statement('crm_recompute_units') -%}
            create or replace table {{ recompute }} as {{ select_units }}
        {%- endcall -%}
        {%- do streamkap_cdc.cdc_set_pending_consumer_mark(this, plan['until'], plan['as_of_text'], false) -%}
        {%- set unit_count = run_query("select count(*) from " ~ recompute).columns[0].values()[0] -%}
        {#- A subquery of the units table filters the inputs' scans (a literal list only skips
            blocks); with nothing to recompute, the constant false reads nothing. -#}
        {%- do plan.update({'units': 'select recompute_value from ' ~ recompute if unit_count > 0 else 'null'}) -%}
    {%- else -%}
        {%- set values = run_query(select_units).columns[0].values() | list -%}
        {%- do plan.update({'units': crm_sql_list(values) if values else 'null'}) -%}
    {%- endif -%}
    {{ return(plan) }}
{% endmacro %}


{% macro crm_recompute_relation(mart) %}
    {{ return(api.Relation.create(database=mart.database, schema=mart.schema,
                                  identifier=mart.identifier ~ '__recompute', type='table')) }}
{% endmacro %}


{# The filter a mart puts on the rows of its inputs: everything on a full build, the
   plan's units on an incremental one (nothing when no unit changed). #}
{% macro crm_recompute_filter(plan, column) -%}
    {%- if plan['mode'] == 'full' -%}1 = 1
    {%- elif plan['units'] == 'null' -%}1 = 0
    {%- else -%}{{ column }} in ({{ plan['units'] }})
    {%- endif -%}
{%- endmacro %}


{# Emails of Magento columns as the staging models clean them: matched across
   customers, orders, carts and subscribers. #}
{% macro magento_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}


{# The write step of an incremental CRM mart (incremental_strategy='crm_recompute',
   config crm_recompute_by: the unit column): deletes the mart's rows of every unit
   recomputed (all rows on a rebuild), so a row that no longer qualifies leaves the
   mart, and inserts the recomputed rows. #}
{% macro get_incremental_crm_recompute_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set unit = config.require('crm_recompute_by') -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ target }}
    {%- if not streamkap_cdc.cdc_pending_rebuild(target) %}
    where {{ unit }} in (select recompute_value from {{ crm_recompute_relation(target) }})
    {%- endif %};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{% endmacro %}


{# The relation of a current-state model, by name, from the graph rather than ref(): the
   marts read only its change feed, and already follow it in the DAG through staging. #}
{% macro crm_current_state(name) %}
    {#- A unit test's context has no graph: it builds in full from its fixtures. -#}
    {%- if not execute or 'nodes' not in graph %}{{ return(none) }}{% endif -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == name -%}
        {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias, type='table')) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("crm_current_state: no model named " ~ name) }}
{% endmacro %}


{# The key of a row of int_crm__email_keys: its Magento table and primary key. #}
{% macro crm_email_index_key(table_sql, key_sql) -%}
    {{ table_sql }} || ':' || cast({{ key_sql }} as varchar)
{%- endmacro %}


{# The filter an email-keyed mart puts on `table`'s rows (a Magento table, e.g.
   'sales_order', whose staging model's primary key is `key`): everything on a full
   build; else the rows of the plan's emails, found by key in int_crm__email_keys when
   that index has read every change of its feeds (it ran in this invocation, or nothing
   changed in its tables since it last did), else by the cleaned email, which reads the
   whole table. A mart using it declares `-- depends_on:` the index. #}
{% macro crm_email_rows(plan, table, key) -%}
    {%- if plan['mode'] == 'full' -%}1 = 1
    {%- elif plan['units'] == 'null' -%}1 = 0
    {%- else -%}
        {%- set index = ref('int_crm__email_keys') -%}
        {%- if 'index_current' not in plan -%}
            {%- set feeds = crm_email_index_feeds() -%}
            {%- do plan.update({'index_current': streamkap_cdc.cdc_consumer_is_current(index, feeds)}) -%}
            {%- if not plan['index_current'] -%}
                {%- do log(this.identifier ~ ": int_crm__email_keys is behind its change feeds; "
                           ~ "finding the emails' rows by their cleaned email", info=true) -%}
            {%- endif -%}
        {%- endif -%}
        {%- if plan['index_current'] -%}
            {{ key }} in (
                select key_id from {{ index }}
                where source_table = '{{ table }}' and email in ({{ plan['units'] }})
            )
        {%- else -%}email in ({{ plan['units'] }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{# The current states int_crm__email_keys reads (customer_entity, sales_order,
   newsletter_subscriber, quote, in that order): its change feeds. #}
{% macro crm_email_index_feeds() %}
    {%- set feeds = [] -%}
    {%- for name in ['customer_entity', 'sales_order', 'newsletter_subscriber', 'quote'] -%}
        {%- do feeds.append(crm_current_state('base_magento__' ~ name)) -%}
    {%- endfor -%}
    {{ return(feeds) }}
{% endmacro %}


{# The units of a run of int_crm__email_keys: the index keys of every changed row of its
   `sources` ((table, current state, staging model, staging key, feed key) tuples). #}
{% macro crm_email_index_units(plan, sources) %}
    {%- set parts = [] -%}
    {%- for table, current_state, _, _, feed_key in sources -%}
        {%- do parts.append("select " ~ crm_email_index_key("'" ~ table ~ "'", feed_key) ~ " as unit from ("
                            ~ crm_changes(plan, current_state) ~ ") as changed") -%}
    {%- endfor -%}
    {{ return(parts | join('\nunion all\n')) }}
{% endmacro %}


{# The filter on a staging model's rows by the changed keys of a current-state table
   (`relation`, feed column `feed_key`, staging column `column`): none on a full build. #}
{% macro crm_changed_rows(plan, column, relation, feed_key) -%}
    {%- if plan['mode'] == 'full' -%}1 = 1
    {%- else -%}{{ column }} in ({{ crm_changed_keys(plan, relation, feed_key) }})
    {%- endif -%}
{%- endmacro %}


{# The values `sql` gives (one column), read now and written as a VALUES list to look keys
   up with `key in (...)`: for keys found through another table (the carts of changed
   cart lines), where a nested subquery leaves the join order to estimates that may read
   the larger table whole. A VALUES list is always the small side of the join. #}
{% macro crm_key_values(sql) %}
    {%- set rows = run_query("select distinct * from (" ~ sql ~ ") as found").rows -%}
    {#- `in (null)` matches nothing. -#}
    {%- if not rows %}{{ return('select null as key_value') }}{% endif -%}
    {%- set values = [] -%}
    {%- for row in rows if row[0] is not none -%}
        {%- do values.append('(' ~ crm_sql_list([row[0]]) ~ ')') -%}
    {%- endfor -%}
    {%- if not values %}{{ return('select null as key_value') }}{% endif -%}
    {{ return('select key_value from (values ' ~ values | join(', ') ~ ') as key_values (key_value)') }}
{% endmacro %}
