{# Order lines for trading, one row per parent line: the child lines of
   configurable and bundle products are left out, since their parent line
   carries the amounts. With the order's attributes, the product name as the
   order's store view shows it, and revenue net of discounts and refunds. #}
with

order_items as (

    select * from {{ ref('stg_magento__order_items') }}

),

orders as (

    select * from {{ ref('stg_magento__orders') }}

),

stores as (

    select * from {{ ref('stg_magento__stores') }}

),

websites as (

    select * from {{ ref('stg_magento__websites') }}

),

products as (

    select * from {{ ref('stg_magento__products') }}

),

product_store_attributes as (

    select * from {{ ref('int_products__store_attributes') }}

),

parent_lines as (

    select *

    from order_items
    where not is_child_item

),

order_lines as (

    {#- Inner join: a line replicated before its order waits for the order. #}
    select
        parent_lines.order_item_id,
        parent_lines.order_id,
        orders.order_increment_id,
        orders.store_id,
        stores.store_code,
        stores.store_name,
        stores.website_id,
        websites.website_code,
        websites.website_name,
        orders.customer_id,
        orders.customer_group_id,
        orders.is_guest,
        orders.order_state,
        orders.order_status,
        coalesce(orders.is_canceled, false) as is_canceled,
        orders.base_currency_code,
        parent_lines.product_id,
        parent_lines.sku,
        products.sku as product_sku,
        coalesce(parent_lines.product_type, products.product_type) as product_type,
        {#- The store view's current name; the name written on the line when the
            product, or its name, is no longer in the catalog. #}
        coalesce(product_store_attributes.product_name, parent_lines.product_name)
            as product_name,
        coalesce(parent_lines.qty_ordered, 0) as qty_ordered,
        coalesce(parent_lines.qty_canceled, 0) as qty_canceled,
        coalesce(parent_lines.qty_refunded, 0) as qty_refunded,
        parent_lines.base_price,
        coalesce(parent_lines.base_row_total, 0) as gross_revenue,
        {#- Magento stores line discounts as positive amounts (the order's
            base_discount_amount is negative). #}
        coalesce(parent_lines.base_discount_amount, 0) as discount_amount,
        coalesce(parent_lines.base_amount_refunded, 0) as refunded_amount,
        coalesce(parent_lines.base_tax_amount, 0) as tax_amount,
        orders.created_at

    from parent_lines
    inner join orders
        on parent_lines.order_id = orders.order_id
    left join stores
        on orders.store_id = stores.store_id
    left join websites
        on stores.website_id = websites.website_id
    left join products
        on parent_lines.product_id = products.product_id
    left join product_store_attributes
        on
            parent_lines.product_id = product_store_attributes.product_id
            and orders.store_id = product_store_attributes.store_id
            {#- Store views only: the default-scope row is not a shop's. #}
            and product_store_attributes.store_id != 0

),

final as (

    select
        ----------  keys
        cast(order_item_id as integer) as order_item_id,
        cast(order_id as integer) as order_id,
        cast(order_increment_id as varchar) as order_increment_id,
        cast(store_id as integer) as store_id,
        cast(website_id as integer) as website_id,
        cast(customer_id as integer) as customer_id,
        cast(product_id as integer) as product_id,

        ----------  store
        cast(store_code as varchar) as store_code,
        cast(store_name as varchar) as store_name,
        cast(website_code as varchar) as website_code,
        cast(website_name as varchar) as website_name,

        ----------  customer
        cast(customer_group_id as integer) as customer_group_id,
        cast(is_guest as boolean) as is_guest,

        ----------  order
        cast(order_state as varchar) as order_state,
        cast(order_status as varchar) as order_status,
        cast(is_canceled as boolean) as is_canceled,

        ----------  product
        cast(sku as varchar) as sku,
        cast(product_sku as varchar) as product_sku,
        cast(product_type as varchar) as product_type,
        cast(product_name as varchar) as product_name,

        ----------  quantities
        cast(qty_ordered as decimal(12, 4)) as qty_ordered,
        cast(qty_canceled as decimal(12, 4)) as qty_canceled,
        cast(qty_refunded as decimal(12, 4)) as qty_refunded,

        ----------  amounts (base currency)
        cast(base_currency_code as varchar) as base_currency_code,
        cast(base_price as decimal(20, 4)) as unit_price,
        cast(gross_revenue as decimal(20, 4)) as gross_revenue,
        cast(discount_amount as decimal(20, 4)) as discount_amount,
        cast(refunded_amount as decimal(20, 4)) as refunded_amount,
        cast(gross_revenue - discount_amount - refunded_amount as decimal(20, 4)) as net_revenue,
        cast(tax_amount as decimal(20, 4)) as tax_amount,

        ----------  timestamps
        cast(created_at as {{ type_timestamp_ntz() }}) as created_at

    from order_lines

)

select * from final
