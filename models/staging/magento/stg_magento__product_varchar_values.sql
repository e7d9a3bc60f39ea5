{# Text product attribute values (name, url_key...), one row per product,
   attribute and store scope; store_id 0 is the default scope. #}
with

source as (

    select * from {{ ref('base_magento__catalog_product_entity_varchar') }}

),

renamed as (

    select
        ----------  ids
        value_id as attribute_value_id,
        entity_id as product_id,
        attribute_id,
        store_id,

        ----------  values
        value as attribute_value,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
