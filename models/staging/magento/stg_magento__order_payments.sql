{# Payments of orders (Magento keeps one payment row per order). #}
with

source as (

    select * from {{ ref('base_magento__sales_order_payment') }}

),

renamed as (

    select
        ----------  ids
        entity_id as order_payment_id,
        parent_id as order_id,
        last_trans_id as last_transaction_id,

        ----------  strings
        method as payment_method,

        ----------  numerics
        cast(base_amount_ordered as decimal(20, 4)) as base_amount_ordered,
        cast(base_amount_paid as decimal(20, 4)) as base_amount_paid,
        cast(base_amount_refunded as decimal(20, 4)) as base_amount_refunded,
        cast(base_shipping_amount as decimal(20, 4)) as base_shipping_amount,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
