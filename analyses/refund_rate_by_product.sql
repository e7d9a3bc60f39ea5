{# Replaces "refund rate by product", which traders ran on the production
   MySQL database: `sales_order_item` grouped by `sku` over the last 90 days,
   `SUM(qty_refunded) / SUM(qty_ordered)`.

   What changed:
   - It reads fct_order_lines: parent lines only, so a configurable or bundle
     sale is counted once (the old query also counted its child lines, which
     carry the refunded quantity too), and lines are grouped by product, not
     by the SKU as ordered.
   - The window is var `refund_rate_window_days` (default 90) back from var
     `as_of` (default: now, UTC), on when the order was placed.
   - Canceled orders are left out: their units were never sold, and counting
     them lowered the old rates.
   - It adds the refunded share of revenue next to the share of units, and
     the product name as the catalog's default scope shows it. #}

{%- set window_days = positive_integer_var('refund_rate_window_days') %}

with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

window_lines as (

    select *

    from order_lines
    where
        not is_canceled
        and created_at > {{ dbt.dateadd('day', -window_days, as_of_timestamp()) }}
        and created_at <= {{ as_of_timestamp() }}

),

product_refunds as (

    select
        product_id,
        count(distinct order_id) as order_count,
        sum(qty_ordered - qty_canceled) as units_sold,
        sum(qty_refunded) as units_refunded,
        sum(gross_revenue - discount_amount) as revenue_before_refunds,
        sum(refunded_amount) as refunded_amount

    from window_lines
    group by product_id

),

final as (

    select
        product_refunds.product_id,
        products.sku,
        products.product_name,
        products.product_type,
        product_refunds.order_count,
        product_refunds.units_sold,
        product_refunds.units_refunded,
        product_refunds.revenue_before_refunds,
        product_refunds.refunded_amount,
        case
            when product_refunds.units_sold > 0
                then round(100 * product_refunds.units_refunded / product_refunds.units_sold, 1)
        end as units_refunded_pct,
        case
            when product_refunds.revenue_before_refunds > 0
                then round(
                    100 * product_refunds.refunded_amount
                    / product_refunds.revenue_before_refunds,
                    1
                )
        end as revenue_refunded_pct

    from product_refunds
    left join products
        on product_refunds.product_id = products.product_id

)

select * from final
order by units_refunded_pct desc nulls last, units_refunded desc, product_id asc
