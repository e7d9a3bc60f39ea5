{# The catalog as a whole, one row per product: SKU, type, the default-scope
   (store 0) name and status that Magento's admin shows, and whether the
   product holds stock of its own. #}
with

products as (

    select * from {{ ref('stg_magento__products') }}

),

product_store_attributes as (

    select * from {{ ref('int_products__store_attributes') }}

),

default_attributes as (

    {#- Store 0 only: the intermediate resolves Magento's attributes once, for
        each store view and for the default scope. #}
    select
        product_id,
        product_name,
        product_status_code,
        is_enabled

    from product_store_attributes
    where store_id = 0

),

final as (

    select
        ----------  keys
        cast(products.product_id as integer) as product_id,

        ----------  catalog
        cast(products.sku as varchar) as sku,
        cast(products.product_type as varchar) as product_type,
        cast(default_attributes.product_name as varchar) as product_name,
        cast(default_attributes.product_status_code as integer) as product_status_code,
        cast(coalesce(default_attributes.is_enabled, false) as boolean) as is_enabled,

        ----------  stock
        {#- A configurable, bundle or grouped product sells its children's
            stock; its own stock item only carries an in-stock switch. #}
        cast(
            coalesce(products.product_type, '') not in ('configurable', 'bundle', 'grouped')
            as boolean
        ) as has_own_stock,

        ----------  timestamps
        cast(products.created_at as {{ type_timestamp_ntz() }}) as created_at

    from products
    left join default_attributes
        on products.product_id = default_attributes.product_id

)

select * from final
