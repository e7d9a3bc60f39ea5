{# Stock levels, one row per product and stock: quantity, what of it can be
   sold, Magento's in-stock switch, and a low-stock flag for products that hold
   stock of their own (fewer than `low_stock_threshold` sellable units). #}

{%- set low_stock_threshold = positive_integer_var('low_stock_threshold') %}

with

stock_items as (

    select * from {{ ref('stg_magento__stock_items') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

stock_levels as (

    {#- Magento takes a product out of stock once qty falls to min_qty (its
        out-of-stock threshold), so only the units above min_qty can be sold.
        Below zero with backorders allowed. #}
    select
        stock_items.stock_item_id,
        stock_items.product_id,
        stock_items.stock_id,
        stock_items.website_id,
        products.sku,
        products.product_type,
        products.product_name,
        products.is_enabled,
        stock_items.backorders_mode,
        stock_items.low_stock_at,
        coalesce(products.has_own_stock, true) as has_own_stock,
        coalesce(stock_items.qty, 0) as qty,
        coalesce(stock_items.min_qty, 0) as min_qty,
        coalesce(stock_items.qty, 0) - coalesce(stock_items.min_qty, 0) as sellable_qty,
        coalesce(stock_items.is_in_stock, false) as is_in_stock

    from stock_items
    left join products
        on stock_items.product_id = products.product_id

),

flagged as (

    {#- The quantity of a configurable, bundle or grouped product means nothing
        (its children hold the stock), so it is never low on stock. #}
    select
        *,
        has_own_stock and sellable_qty < {{ low_stock_threshold }} as is_low_stock

    from stock_levels

),

final as (

    select
        ----------  keys
        cast(stock_item_id as integer) as stock_item_id,
        cast(product_id as integer) as product_id,
        cast(stock_id as integer) as stock_id,
        cast(website_id as integer) as website_id,

        ----------  product
        cast(sku as varchar) as sku,
        cast(product_type as varchar) as product_type,
        cast(product_name as varchar) as product_name,
        cast(is_enabled as boolean) as is_enabled,
        cast(has_own_stock as boolean) as has_own_stock,

        ----------  quantities
        cast(qty as decimal(12, 4)) as qty,
        cast(min_qty as decimal(12, 4)) as min_qty,
        cast(sellable_qty as decimal(12, 4)) as sellable_qty,
        cast(backorders_mode as integer) as backorders_mode,

        ----------  status
        cast(is_in_stock as boolean) as is_in_stock,
        cast({{ low_stock_threshold }} as integer) as low_stock_threshold,
        cast(is_low_stock as boolean) as is_low_stock,
        cast(
            case
                when not is_in_stock then 'out_of_stock'
                when is_low_stock then 'low_stock'
                else 'in_stock'
            end as varchar
        ) as stock_status,

        ----------  timestamps
        cast(low_stock_at as {{ type_timestamp_ntz() }}) as low_stock_at

    from flagged

)

select * from final
