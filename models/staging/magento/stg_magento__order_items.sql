{# Order lines. A configurable or bundle product is one parent line plus child
   lines (parent_order_item_id set): sum parent lines only, or amounts count twice. #}
with

source as (

    select * from {{ ref('base_magento__sales_order_item') }}

),

renamed as (

    select
        ----------  ids
        item_id as order_item_id,
        order_id,
        parent_item_id as parent_order_item_id,
        quote_item_id,
        product_id,
        store_id,

        ----------  strings
        sku,
        name as product_name,
        product_type,

        ----------  numerics
        cast(qty_ordered as decimal(12, 4)) as qty_ordered,
        cast(qty_refunded as decimal(12, 4)) as qty_refunded,
        cast(qty_canceled as decimal(12, 4)) as qty_canceled,
        cast(base_price as decimal(20, 4)) as base_price,
        cast(base_row_total as decimal(20, 4)) as base_row_total,
        cast(base_discount_amount as decimal(20, 4)) as base_discount_amount,
        cast(base_tax_amount as decimal(20, 4)) as base_tax_amount,
        cast(base_amount_refunded as decimal(20, 4)) as base_amount_refunded,

        ----------  booleans
        parent_item_id is not null as is_child_item,

        ----------  timestamps
        cast(created_at as {{ type_timestamp_ntz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_ntz() }}) as updated_at,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
