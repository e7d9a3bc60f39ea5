{# Billing and shipping addresses of orders, as entered at checkout. #}
with

source as (

    select * from {{ ref('base_magento__sales_order_address') }}

),

renamed as (

    select
        ----------  ids
        entity_id as order_address_id,
        parent_id as order_id,
        customer_address_id,

        ----------  strings
        address_type,
        {{ magento_email('email') }} as email,
        nullif(trim(firstname), '') as first_name,
        nullif(trim(lastname), '') as last_name,
        street,
        city,
        region,
        postcode,
        nullif(upper(trim(country_id)), '') as country_code,
        telephone,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
