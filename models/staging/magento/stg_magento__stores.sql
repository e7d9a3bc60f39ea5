{# Store views. Store 0 is the admin scope, which holds default values. #}
with

source as (

    select * from {{ ref('base_magento__store') }}

),

renamed as (

    select
        ----------  ids
        store_id,
        website_id,
        group_id as store_group_id,

        ----------  strings
        code as store_code,
        name as store_name,

        ----------  numerics
        sort_order,

        ----------  booleans
        is_active = 1 as is_active,
        store_id = 0 as is_default_scope,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
