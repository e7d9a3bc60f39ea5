{# EAV attribute definitions of every entity type (products, categories,
   customers...). Ids differ per install: look attributes up by code. #}
with

source as (

    select * from {{ ref('base_magento__eav_attribute') }}

),

renamed as (

    select
        ----------  ids
        attribute_id,
        entity_type_id,

        ----------  strings
        attribute_code,
        backend_type,
        frontend_input,
        frontend_label,

        ----------  booleans
        is_required = 1 as is_required,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
