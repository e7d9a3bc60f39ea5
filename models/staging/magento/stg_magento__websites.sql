{# Websites, the top of Magento's website > store group > store view hierarchy. #}
with

source as (

    select * from {{ ref('base_magento__store_website') }}

),

renamed as (

    select
        ----------  ids
        website_id,
        default_group_id as default_store_group_id,

        ----------  strings
        code as website_code,
        name as website_name,

        ----------  numerics
        sort_order,

        ----------  booleans
        is_default = 1 as is_default,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
