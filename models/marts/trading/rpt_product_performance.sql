{# Product performance, one row per catalog product: orders, units, revenue
   and refunds of the last 7 and 30 days before as_of (orders not canceled),
   current stock, and days of cover at the last 30 days' rate of sale. #}

{#- The columns are named after these windows (_7d, _30d): change both together. #}
{%- set short_window_days = 7 %}
{%- set long_window_days = 30 %}

with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

stock_units as (

    select * from {{ ref('int_order_items__stock_units') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

stock_levels as (

    select * from {{ ref('rpt_stock_levels') }}

),

windowed_lines as (

    {#- A window is (as_of - N days, as_of]: orders placed after as_of are left
        out, so a past as_of rebuilds a past report. #}
    select
        *,
        created_at > {{ dbt.dateadd('day', -short_window_days, as_of_timestamp()) }}
            as is_in_short_window

    from order_lines
    where
        not is_canceled
        and created_at > {{ dbt.dateadd('day', -long_window_days, as_of_timestamp()) }}
        and created_at <= {{ as_of_timestamp() }}

),

line_performance as (

    {#- Parent lines only (fct_order_lines): a configurable or bundle sale
        counts for the configurable or bundle, not for its children. #}
    select
        product_id,

        count(distinct case when is_in_short_window then order_id end) as order_count_7d,
        sum(case when is_in_short_window then qty_ordered - qty_canceled else 0 end)
            as units_sold_7d,
        sum(case when is_in_short_window then gross_revenue else 0 end) as gross_revenue_7d,
        sum(case when is_in_short_window then net_revenue else 0 end) as net_revenue_7d,
        sum(case when is_in_short_window then qty_refunded else 0 end) as units_refunded_7d,
        sum(case when is_in_short_window then refunded_amount else 0 end) as refunded_amount_7d,

        count(distinct order_id) as order_count_30d,
        sum(qty_ordered - qty_canceled) as units_sold_30d,
        sum(gross_revenue) as gross_revenue_30d,
        sum(net_revenue) as net_revenue_30d,
        sum(qty_refunded) as units_refunded_30d,
        sum(refunded_amount) as refunded_amount_30d

    from windowed_lines
    group by product_id

),

stock_demand as (

    {#- Units taken from each product's own stock, child lines included
        (int_order_items__stock_units), in the long window. #}
    select
        product_id,
        sum(stock_units) as stock_units_sold

    from stock_units
    where
        created_at > {{ dbt.dateadd('day', -long_window_days, as_of_timestamp()) }}
        and created_at <= {{ as_of_timestamp() }}
    group by product_id

),

current_stock as (

    select
        product_id,
        sum(qty) as stock_qty,
        sum(sellable_qty) as sellable_qty,
        max(case when is_in_stock then 1 else 0 end) as in_stock_flag,
        max(case when is_low_stock then 1 else 0 end) as low_stock_flag

    from stock_levels
    group by product_id

),

product_performance as (

    select
        products.product_id,
        products.sku,
        products.product_type,
        products.product_name,
        products.is_enabled,
        products.has_own_stock,
        line_performance.order_count_7d,
        line_performance.units_sold_7d,
        line_performance.gross_revenue_7d,
        line_performance.net_revenue_7d,
        line_performance.units_refunded_7d,
        line_performance.refunded_amount_7d,
        line_performance.order_count_30d,
        line_performance.units_sold_30d,
        line_performance.gross_revenue_30d,
        line_performance.net_revenue_30d,
        line_performance.units_refunded_30d,
        line_performance.refunded_amount_30d,
        case when products.has_own_stock then current_stock.stock_qty end as stock_qty,
        case when products.has_own_stock then current_stock.sellable_qty end as sellable_qty,
        current_stock.in_stock_flag = 1 as is_in_stock,
        current_stock.low_stock_flag = 1 as is_low_stock,
        case
            when products.has_own_stock then coalesce(stock_demand.stock_units_sold, 0)
        end as stock_units_sold_30d

    from products
    left join line_performance
        on products.product_id = line_performance.product_id
    left join stock_demand
        on products.product_id = stock_demand.product_id
    left join current_stock
        on products.product_id = current_stock.product_id

),

covered as (

    {#- No cover without a rate of sale, nor for a product without stock of its
        own; none left to sell is 0 days. #}
    select
        *,
        stock_units_sold_30d / {{ long_window_days }} as avg_daily_stock_units_30d,
        case
            when sellable_qty is null or stock_units_sold_30d is null then null
            when sellable_qty <= 0 then 0
            when stock_units_sold_30d > 0
                then sellable_qty * {{ long_window_days }} / stock_units_sold_30d
        end as days_of_cover

    from product_performance

),

final as (

    select
        ----------  keys
        cast(product_id as integer) as product_id,

        ----------  product
        cast(sku as varchar) as sku,
        cast(product_type as varchar) as product_type,
        cast(product_name as varchar) as product_name,
        cast(is_enabled as boolean) as is_enabled,
        cast(has_own_stock as boolean) as has_own_stock,

        ----------  last 7 days (amounts in base currency)
        cast(coalesce(order_count_7d, 0) as integer) as order_count_7d,
        cast(coalesce(units_sold_7d, 0) as decimal(12, 4)) as units_sold_7d,
        cast(coalesce(gross_revenue_7d, 0) as decimal(20, 4)) as gross_revenue_7d,
        cast(coalesce(net_revenue_7d, 0) as decimal(20, 4)) as net_revenue_7d,
        cast(coalesce(units_refunded_7d, 0) as decimal(12, 4)) as units_refunded_7d,
        cast(coalesce(refunded_amount_7d, 0) as decimal(20, 4)) as refunded_amount_7d,

        ----------  last 30 days (amounts in base currency)
        cast(coalesce(order_count_30d, 0) as integer) as order_count_30d,
        cast(coalesce(units_sold_30d, 0) as decimal(12, 4)) as units_sold_30d,
        cast(coalesce(gross_revenue_30d, 0) as decimal(20, 4)) as gross_revenue_30d,
        cast(coalesce(net_revenue_30d, 0) as decimal(20, 4)) as net_revenue_30d,
        cast(coalesce(units_refunded_30d, 0) as decimal(12, 4)) as units_refunded_30d,
        cast(coalesce(refunded_amount_30d, 0) as decimal(20, 4)) as refunded_amount_30d,

        ----------  stock
        cast(stock_qty as decimal(12, 4)) as stock_qty,
        cast(sellable_qty as decimal(12, 4)) as sellable_qty,
        cast(is_in_stock as boolean) as is_in_stock,
        cast(is_low_stock as boolean) as is_low_stock,
        cast(stock_units_sold_30d as decimal(12, 4)) as stock_units_sold_30d,
        cast(round(avg_daily_stock_units_30d, 4) as decimal(12, 4)) as avg_daily_stock_units_30d,
        cast(round(days_of_cover, 1) as decimal(12, 1)) as days_of_cover

    from covered

)

select * from final
