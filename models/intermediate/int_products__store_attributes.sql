{# Product name, price, status and visibility as each store view shows them:
   the store view's own value where Magento has one, else the default-scope
   value (store_id 0). One row per product and store view, and one per product
   for the default scope itself (store_id 0: what Magento's admin shows). #}
with

products as (

    select * from {{ ref('stg_magento__products') }}

),

stores as (

    select * from {{ ref('stg_magento__stores') }}

),

eav_attributes as (

    select * from {{ ref('stg_magento__eav_attributes') }}

),

varchar_values as (

    select * from {{ ref('stg_magento__product_varchar_values') }}

),

decimal_values as (

    select * from {{ ref('stg_magento__product_decimal_values') }}

),

int_values as (

    select * from {{ ref('stg_magento__product_int_values') }}

),

product_statuses as (

    select * from {{ ref('magento_product_statuses') }}

),

product_visibilities as (

    select * from {{ ref('magento_product_visibilities') }}

),

product_attributes as (

    {#- By code, never by id (ids differ per install), and on the product entity
        type: categories have a `name` attribute too. #}
    select
        attribute_id,
        attribute_code

    from eav_attributes
    where
        entity_type_id = {{ positive_integer_var('magento_product_entity_type_id') }}
        and attribute_code in ('name', 'price', 'status', 'visibility')

),

attribute_values as (

    select
        varchar_values.product_id,
        varchar_values.store_id,
        product_attributes.attribute_code,
        varchar_values.attribute_value as text_value,
        cast(null as decimal(20, 6)) as decimal_value,
        cast(null as integer) as integer_value

    from varchar_values
    inner join product_attributes
        on varchar_values.attribute_id = product_attributes.attribute_id

    union all

    select
        decimal_values.product_id,
        decimal_values.store_id,
        product_attributes.attribute_code,
        cast(null as varchar) as text_value,
        decimal_values.attribute_value as decimal_value,
        cast(null as integer) as integer_value

    from decimal_values
    inner join product_attributes
        on decimal_values.attribute_id = product_attributes.attribute_id

    union all

    select
        int_values.product_id,
        int_values.store_id,
        product_attributes.attribute_code,
        cast(null as varchar) as text_value,
        cast(null as decimal(20, 6)) as decimal_value,
        int_values.attribute_value as integer_value

    from int_values
    inner join product_attributes
        on int_values.attribute_id = product_attributes.attribute_id

),

store_views as (

    {#- The default scope is added here rather than read from the stores
        table, so every product has its default row (dim_products reads it). #}
    select
        store_id,
        website_id

    from stores
    where not is_default_scope

    union all

    select
        0 as store_id,
        0 as website_id

),

product_store_views as (

    select
        products.product_id,
        store_views.store_id,
        store_views.website_id,
        products.sku,
        products.product_type

    from products
    cross join store_views

),

scoped_values as (

    {#- Each attribute has at most two candidates per store view: the store
        view's own row and the default row. As in Magento, the store view's row
        wins whenever it exists, even when its value is empty. #}
    select
        product_store_views.product_id,
        product_store_views.store_id,
        attribute_values.attribute_code,
        attribute_values.text_value,
        attribute_values.decimal_value,
        attribute_values.integer_value,
        row_number() over (
            partition by
                product_store_views.product_id,
                product_store_views.store_id,
                attribute_values.attribute_code
            order by attribute_values.store_id desc
        ) as scope_rank

    from product_store_views
    inner join attribute_values
        on
            product_store_views.product_id = attribute_values.product_id
            and attribute_values.store_id in (0, product_store_views.store_id)

),

resolved_attributes as (

    select
        product_id,
        store_id,
        max(case when attribute_code = 'name' then text_value end) as product_name,
        max(case when attribute_code = 'price' then decimal_value end) as price,
        max(case when attribute_code = 'status' then integer_value end) as product_status_code,
        max(case when attribute_code = 'visibility' then integer_value end) as visibility_code

    from scoped_values
    where scope_rank = 1
    group by
        product_id,
        store_id

),

joined as (

    select
        ----------  ids
        product_store_views.product_id,
        product_store_views.store_id,
        product_store_views.website_id,

        ----------  strings
        product_store_views.sku,
        product_store_views.product_type,
        resolved_attributes.product_name,
        product_statuses.product_status_label,
        product_visibilities.visibility_label,

        ----------  numerics
        resolved_attributes.price,
        resolved_attributes.product_status_code,
        resolved_attributes.visibility_code,

        ----------  booleans
        coalesce(product_statuses.is_enabled, false) as is_enabled,
        coalesce(product_visibilities.is_visible_in_catalog, false) as is_visible_in_catalog,
        coalesce(product_visibilities.is_visible_in_search, false) as is_visible_in_search

    from product_store_views
    left join resolved_attributes
        on
            product_store_views.product_id = resolved_attributes.product_id
            and product_store_views.store_id = resolved_attributes.store_id
    left join product_statuses
        on resolved_attributes.product_status_code = product_statuses.product_status_code
    left join product_visibilities
        on resolved_attributes.visibility_code = product_visibilities.visibility_code

)

select * from joined
