{# Customer groups (NOT LOGGED IN, General, Wholesale, Retailer by default). #}
with

source as (

    select * from {{ ref('base_magento__customer_group') }}

),

renamed as (

    select
        ----------  ids
        customer_group_id,
        tax_class_id,

        ----------  strings
        {#- Magento calls it a code, but it is the name shown to staff. #}
        customer_group_code as customer_group_name,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
