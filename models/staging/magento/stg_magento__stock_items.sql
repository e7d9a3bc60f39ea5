{# Stock level of each product per stock (stock 1 is the default stock). #}
with

source as (

    select * from {{ ref('base_magento__cataloginventory_stock_item') }}

),

renamed as (

    select
        ----------  ids
        item_id as stock_item_id,
        product_id,
        stock_id,
        website_id,

        ----------  numerics
        cast(qty as decimal(12, 4)) as qty,
        cast(min_qty as decimal(12, 4)) as min_qty,
        {#- 0 no backorders, 1 allow below zero, 2 allow and notify the customer. #}
        backorders as backorders_mode,

        ----------  booleans
        is_in_stock = 1 as is_in_stock,

        ----------  timestamps
        cast(low_stock_date as {{ type_timestamp_ntz() }}) as low_stock_at,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
