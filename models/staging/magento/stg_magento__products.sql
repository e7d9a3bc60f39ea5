{# Products: the static part of the catalog entity (sku and type). Names,
   prices and other attributes are in the EAV value tables. #}
with

source as (

    select * from {{ ref('base_magento__catalog_product_entity') }}

),

renamed as (

    select
        ----------  ids
        entity_id as product_id,
        attribute_set_id,

        ----------  strings
        sku,
        type_id as product_type,

        ----------  booleans
        has_options = 1 as has_options,
        required_options = 1 as has_required_options,

        ----------  timestamps
        cast(created_at as {{ type_timestamp_ntz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_ntz() }}) as updated_at,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
