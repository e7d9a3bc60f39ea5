{# Replaces "top sellers this week", which traders ran on the production
   MySQL database: `sales_order_item` grouped by `sku` for
   `created_at >= NOW() - INTERVAL 7 DAY`, ordered by `SUM(qty_ordered)`,
   top 20.

   What changed:
   - It reads rpt_product_performance, whose 7 days end at var `as_of`
     (default: now, UTC); NOW() was the server's local time against UTC
     `created_at` values.
   - Each sale counts once. The old query read every line, and a
     configurable's parent and child lines carry the same SKU (the chosen
     variant's), so its units counted twice, and a bundle's parts counted as
     sales of their own.
   - Products are grouped by product, not by SKU as ordered, so a
     configurable's variants add up to the configurable.
   - Canceled orders are left out; units are net of canceled quantity; revenue
     is net of discounts and refunds, excluding tax.
   - Names are the catalog's default-scope names, not the name copied onto
     each order line, which varied by store view. #}
with

product_performance as (

    select * from {{ ref('rpt_product_performance') }}

),

final as (

    select
        product_id,
        sku,
        product_name,
        product_type,
        units_sold_7d,
        order_count_7d,
        gross_revenue_7d,
        net_revenue_7d,
        units_refunded_7d,
        sellable_qty,
        days_of_cover

    from product_performance
    where units_sold_7d > 0

)

select * from final
order by units_sold_7d desc, net_revenue_7d desc, product_id asc
limit 20
