{# Which rows of customers, orders, newsletter subscribers and carts carry each cleaned
   email: the incremental CRM marts find the rows of the emails they recompute here, by
   a stored email, instead of cleaning every row's email on every run.
   Incremental (strategy crm_recompute, unit: the row's `index_key`): a run recomputes
   the rows whose key changed since its previous run (inserts, updates and deletes, from
   the change feeds' before images). A mart uses it only when it has read every change of
   its feeds (crm_email_rows), so the runner's --only-changed does not run a mart because
   the index's tables changed (config cdc_lookup: a rebuild of a mart, as of now or of a past
   moment, does not read it). #}

{{ config(
    materialized='incremental',
    incremental_strategy='crm_recompute',
    crm_recompute_by='index_key',
    unique_key='index_key',
    on_schema_change='fail',
    cdc_consumer=true,
    cdc_lookup=true
) }}

{%- set feeds = crm_email_index_feeds() %}
{%- set customer_entity, sales_order, newsletter_subscriber, quote = feeds %}
{#- Per Magento table: its current state, staging model, staging key and feed key. #}
{%- set sources = [
    ('customer_entity', customer_entity, 'stg_magento__customers', 'customer_id', 'entity_id'),
    ('sales_order', sales_order, 'stg_magento__orders', 'order_id', 'entity_id'),
    ('newsletter_subscriber', newsletter_subscriber, 'stg_magento__newsletter_subscribers', 'subscriber_id',
     'subscriber_id'),
    ('quote', quote, 'stg_magento__quotes', 'quote_id', 'entity_id'),
] %}
{%- set plan = crm_recompute_plan('index_key', feeds) %}
{%- if plan['mode'] == 'changes' %}
    {%- set units_sql = crm_email_index_units(plan, sources) %}
    {%- set plan = crm_recompute_units(plan, units_sql) %}
{%- endif %}

with

customer_emails as (

    select
        email,
        'customer_entity' as source_table,
        customer_id as key_id

    from {{ ref('stg_magento__customers') }}
    where
        email is not null
        and {{ crm_changed_rows(plan, 'customer_id', customer_entity, 'entity_id') }}

),

order_emails as (

    select
        email,
        'sales_order' as source_table,
        order_id as key_id

    from {{ ref('stg_magento__orders') }}
    where
        email is not null
        and {{ crm_changed_rows(plan, 'order_id', sales_order, 'entity_id') }}

),

subscriber_emails as (

    select
        email,
        'newsletter_subscriber' as source_table,
        subscriber_id as key_id

    from {{ ref('stg_magento__newsletter_subscribers') }}
    where
        email is not null
        and {{ crm_changed_rows(plan, 'subscriber_id', newsletter_subscriber, 'subscriber_id') }}

),

cart_emails as (

    select
        email,
        'quote' as source_table,
        quote_id as key_id

    from {{ ref('stg_magento__quotes') }}
    where
        email is not null
        and {{ crm_changed_rows(plan, 'quote_id', quote, 'entity_id') }}

),

email_keys as (

    select * from customer_emails
    union all
    select * from order_emails
    union all
    select * from subscriber_emails
    union all
    select * from cart_emails

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
