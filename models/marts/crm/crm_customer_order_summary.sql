{# Order history per email over orders that are not canceled: counts, revenue
   net of refunds, first and last order. Guest and registered orders of the
   same email count together.
   Incremental: an email is recomputed when one of its orders changed (its old email
   too, from the order's before image); all its orders are then read (docs/crm.md). #}

{{ config(unique_key='email', crm_recompute_by='email') }}

-- depends_on: {{ ref('int_crm__email_keys') }}

{%- set sales_order = crm_current_state('base_magento__sales_order') %}
{%- set plan = crm_recompute_plan('email', [sales_order]) %}
{%- if plan['mode'] == 'changes' %}
    {%- set units_sql %}
        select {{ magento_email('customer_email') }} as unit from ({{ crm_changes(plan, sales_order) }}) as changed
        union all
        select email as unit from {{ ref('stg_magento__orders') }}
        where order_id in ({{ crm_changed_keys(plan, sales_order, 'entity_id') }})
    {%- endset %}
    {%- set plan = crm_recompute_units(plan, units_sql) %}
{%- endif %}

with

orders as (

    select * from {{ ref('stg_magento__orders') }}
    where {{ crm_email_rows(plan, 'sales_order', 'order_id') }}

),

counted_orders as (

    {#- A NULL state is not 'canceled', so such an order counts. #}
    select *

    from orders
    where
        email is not null
        and (order_state is null or order_state != 'canceled')

),

order_summary as (

    select
        email,
        count(*) as lifetime_orders,
        sum(base_grand_total - coalesce(base_total_refunded, 0)) as lifetime_revenue,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at

    from counted_orders
    group by email

),

final as (

    select
        ----------  keys
        cast(email as varchar) as email,

        ----------  numerics (base currency)
        cast(lifetime_orders as integer) as lifetime_orders,
        cast(lifetime_revenue as decimal(20, 4)) as lifetime_revenue,
        cast(round(lifetime_revenue / lifetime_orders, 4) as decimal(20, 4)) as avg_order_value,

        ----------  dates (Emarsys formats)
        {{ to_iso_date_string('first_order_at') }} as first_order_date,
        {{ to_iso_date_string('last_order_at') }} as last_order_date,

        ----------  timestamps
        cast(first_order_at as {{ type_timestamp_ntz() }}) as first_order_at,
        cast(last_order_at as {{ type_timestamp_ntz() }}) as last_order_at

    from order_summary

)

select * from final
