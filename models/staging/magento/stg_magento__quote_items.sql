{# Cart lines. A configurable or bundle product is one parent line plus child
   lines (parent_quote_item_id set) for the chosen options. #}
with

source as (

    select * from {{ ref('base_magento__quote_item') }}

),

renamed as (

    select
        ----------  ids
        item_id as quote_item_id,
        quote_id,
        parent_item_id as parent_quote_item_id,
        product_id,
        store_id,

        ----------  strings
        sku,
        name as product_name,
        product_type,

        ----------  numerics
        cast(qty as decimal(12, 4)) as qty,
        cast(price as decimal(20, 4)) as price,
        cast(base_price as decimal(20, 4)) as base_price,
        cast(row_total as decimal(20, 4)) as row_total,
        cast(base_row_total as decimal(20, 4)) as base_row_total,

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
