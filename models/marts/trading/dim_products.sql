{# The catalog as a whole, one row per product: SKU, type, the default-scope
   (store 0) name and status that Magento's admin shows, and whether the
   product holds stock of its own. #}
with

products as (

    select * from {{ ref('stg_magento__products') }}

),

eav_attributes as (

    select * from {{ ref('stg_magento__eav_attributes') }}

),

varchar_values as (

    select * from {{ ref('stg_magento__product_varchar_values') }}

),

int_values as (

    select * from {{ ref('stg_magento__product_int_values') }}

),

product_statuses as (

    select * from {{ ref('magento_product_statuses') }}

),

product_attributes as (

    {#- By code on the product entity type, never by id: ids differ per install
        and categories have a `name` attribute too. #}
    select
        attribute_id,
        attribute_code

    from eav_attributes
    where
        entity_type_id = {{ positive_integer_var('magento_product_entity_type_id') }}
        and attribute_code in ('name', 'status')

),

default_values as (

    {#- Store 0 only: store views' own values are in
        int_products__store_attributes. #}
    select
        varchar_values.product_id,
        product_attributes.attribute_code,
        varchar_values.attribute_value as text_value,
        cast(null as integer) as integer_value

    from varchar_values
    inner join product_attributes
        on varchar_values.attribute_id = product_attributes.attribute_id
    where varchar_values.store_id = 0

    union all

    select
        int_values.product_id,
        product_attributes.attribute_code,
        cast(null as varchar) as text_value,
        int_values.attribute_value as integer_value

    from int_values
    inner join product_attributes
        on int_values.attribute_id = product_attributes.attribute_id
    where int_values.store_id = 0

),

default_attributes as (

    select
        product_id,
        max(case when attribute_code = 'name' then text_value end) as product_name,
        max(case when attribute_code = 'status' then integer_value end) as product_status_code

    from default_values
    group by product_id

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
        cast(coalesce(product_statuses.is_enabled, false) as boolean) as is_enabled,

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
    left join product_statuses
        on default_attributes.product_status_code = product_statuses.product_status_code

)

select * from final
