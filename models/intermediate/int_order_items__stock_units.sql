{# Units each order line took from its product's stock, one row per line of an
   order that is not canceled: every line, child lines included, since the simple
   product chosen in a configurable or packed in a bundle is the one whose stock
   goes down; quantities net of canceled units. The reports that measure demand
   (rpt_product_performance, rpt_stockouts) pick their own windows from it. #}
with

order_items as (

    select * from {{ ref('stg_magento__order_items') }}

),

orders as (

    select * from {{ ref('stg_magento__orders') }}

),

stock_units as (

    {#- Inner join: a line replicated before its order waits for the order. #}
    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        orders.created_at,
        coalesce(order_items.qty_ordered, 0) - coalesce(order_items.qty_canceled, 0)
            as stock_units

    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    where not coalesce(orders.is_canceled, false)

)

select * from stock_units
