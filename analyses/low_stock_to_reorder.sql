{# Replaces "low stock to reorder", which traders ran on the production MySQL
   database: `cataloginventory_stock_item` joined to `catalog_product_entity`
   and to `catalog_product_entity_varchar` (attribute_id 73, store_id 0) for
   the name, where `qty < 5`, ordered by qty.

   What changed:
   - It reads rpt_stock_levels and rpt_product_performance. The name
     attribute is found by its code, not by an id that differs between
     installs, and the threshold is var `low_stock_threshold` (default 5).
   - Configurable and bundle products, which always showed qty 0 and filled
     the old list, are left out: their children hold the stock.
   - Low stock counts sellable units (qty above Magento's min_qty), and
     products switched out of stock are listed however many units they hold.
   - Disabled products are left out: nobody reorders them.
   - Each product comes with its units sold from stock over the last 30 days
     and days of cover, and the list is ordered by how soon it runs out. #}
with

stock_levels as (

    select * from {{ ref('rpt_stock_levels') }}

),

product_performance as (

    select * from {{ ref('rpt_product_performance') }}

),

final as (

    select
        stock_levels.product_id,
        stock_levels.sku,
        stock_levels.product_name,
        stock_levels.stock_status,
        stock_levels.qty,
        stock_levels.sellable_qty,
        stock_levels.low_stock_at,
        product_performance.stock_units_sold_30d,
        product_performance.avg_daily_stock_units_30d,
        product_performance.days_of_cover

    from stock_levels
    left join product_performance
        on stock_levels.product_id = product_performance.product_id
    where
        stock_levels.is_enabled
        and stock_levels.has_own_stock
        and (stock_levels.is_low_stock or not stock_levels.is_in_stock)

)

select * from final
order by
    days_of_cover asc nulls last,
    stock_units_sold_30d desc nulls last,
    sellable_qty asc,
    product_id asc
