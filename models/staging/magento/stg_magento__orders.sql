{# Orders, one row per order, with state and status decoded. #}
with

source as (

    select * from {{ ref('base_magento__sales_order') }}

),

order_states as (

    select * from {{ ref('magento_order_states') }}

),

order_statuses as (

    select * from {{ ref('magento_order_statuses') }}

),

renamed as (

    select
        ----------  ids
        entity_id as order_id,
        increment_id as order_increment_id,
        store_id,
        customer_id,
        customer_group_id,
        quote_id,

        ----------  strings
        {{ magento_email('customer_email') }} as email,
        nullif(trim(customer_firstname), '') as customer_first_name,
        nullif(trim(customer_lastname), '') as customer_last_name,
        state as order_state,
        status as order_status,
        base_currency_code,

        ----------  numerics
        cast(base_grand_total as decimal(20, 4)) as base_grand_total,
        cast(base_subtotal as decimal(20, 4)) as base_subtotal,
        cast(base_discount_amount as decimal(20, 4)) as base_discount_amount,
        cast(base_shipping_amount as decimal(20, 4)) as base_shipping_amount,
        cast(base_tax_amount as decimal(20, 4)) as base_tax_amount,
        cast(base_total_paid as decimal(20, 4)) as base_total_paid,
        cast(base_total_refunded as decimal(20, 4)) as base_total_refunded,
        cast(total_qty_ordered as decimal(12, 4)) as total_qty_ordered,

        ----------  booleans
        {#- Not Magento's customer_is_guest flag: when an account is deleted, Magento
            sets its orders' customer_id to NULL but leaves the flag at 0. #}
        customer_id is null as is_guest,
        state = 'canceled' as is_canceled,

        ----------  timestamps
        cast(created_at as {{ type_timestamp_ntz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_ntz() }}) as updated_at,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

),

decoded as (

    select
        renamed.*,
        order_states.order_state_label,
        order_statuses.order_status_label

    from renamed
    left join order_states
        on renamed.order_state = order_states.order_state
    left join order_statuses
        on renamed.order_status = order_statuses.order_status

)

select * from decoded
