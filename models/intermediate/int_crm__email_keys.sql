{# Which rows of customers, orders, newsletter subscribers and carts carry each cleaned
   email: the incremental CRM marts find the rows of the emails they recompute here, by
   a stored email, instead of cleaning every row's email on every run.
   Incremental (strategy crm_recompute, unit: the row's `index_key`): a run recomputes
   the rows whose key changed since its previous run (inserts, updates and deletes, from
   the change feeds' before images). #}

{{ config(
    materialized='incremental',
    incremental_strategy='crm_recompute',
    crm_recompute_by='index_key',
    unique_key='index_key',
    on_schema_change='fail',
    cdc_consumer=true
) }}

{%- set sources = [
    ('customer_entity', 'stg_magento__customers', 'customer_id', 'entity_id'),
    ('sales_order', 'stg_magento__orders', 'order_id', 'entity_id'),
    ('newsletter_subscriber', 'stg_magento__newsletter_subscribers', 'subscriber_id', 'subscriber_id'),
    ('quote', 'stg_magento__quotes', 'quote_id', 'entity_id'),
] %}
{%- set feeds = {} %}
{%- for table, _, _, _ in sources %}
    {%- do feeds.update({table: crm_current_state('base_magento__' ~ table)}) %}
{%- endfor %}
{%- set plan = crm_recompute_plan('index_key', feeds.values() | list) %}
{%- if plan['mode'] == 'changes' %}
    {%- set units_sql %}
        {%- for table, _, _, key in sources %}
        select {{ crm_email_index_key("'" ~ table ~ "'", key) }} as unit
        from ({{ crm_changes(plan, feeds[table]) }}) as changed
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    {%- endset %}
    {%- set plan = crm_recompute_units(plan, units_sql) %}
{%- endif %}

with

{% for table, model, key, feed_key in sources %}
{{ table }}_emails as (

    select
        email,
        '{{ table }}' as source_table,
        {{ key }} as key_id

    from {{ ref(model) }}
    where
        email is not null
        {%- if plan['mode'] != 'full' %}
        {#- The keys that changed: the units are these keys. #}
        and {{ key }} in ({{ crm_changed_keys(plan, feeds[table], feed_key) }})
        {%- endif %}

),

{% endfor -%}

email_keys as (

    {%- for table, _, _, _ in sources %}
    select * from {{ table }}_emails
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        cast(email as varchar) as email,
        cast(source_table as varchar) as source_table,
        cast(key_id as bigint) as key_id,
        cast({{ crm_email_index_key('source_table', 'key_id') }} as varchar) as index_key

    from email_keys

)

select * from final
