{# Shopping carts (Magento quotes), one row per cart. #}
with

source as (

    select * from {{ ref('base_magento__quote') }}

),

renamed as (

    select
        ----------  ids
        entity_id as quote_id,
        store_id,
        customer_id,
        customer_group_id,
        reserved_order_id as reserved_order_increment_id,

        ----------  strings
        {{ magento_email('customer_email') }} as email,
        nullif(trim(customer_firstname), '') as customer_first_name,
        nullif(trim(customer_lastname), '') as customer_last_name,
        base_currency_code,

        ----------  numerics
        items_count,
        cast(items_qty as decimal(12, 4)) as items_qty,
        cast(base_subtotal as decimal(20, 4)) as base_subtotal,
        cast(base_grand_total as decimal(20, 4)) as base_grand_total,

        ----------  booleans
        is_active = 1 as is_active,
        {#- As for orders: no customer account means a guest cart. #}
        customer_id is null as is_guest,

        ----------  timestamps
        cast(created_at as {{ type_timestamp_ntz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_ntz() }}) as updated_at,
        cast(converted_at as {{ type_timestamp_ntz() }}) as converted_at,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
