{# Address book entries of registered customers. #}
with

source as (

    select * from {{ ref('base_magento__customer_address_entity') }}

),

renamed as (

    select
        ----------  ids
        entity_id as customer_address_id,
        parent_id as customer_id,
        increment_id as customer_address_increment_id,

        ----------  strings
        nullif(trim(firstname), '') as first_name,
        nullif(trim(lastname), '') as last_name,
        company,
        street,
        city,
        region,
        postcode,
        {#- Magento stores the ISO 3166-1 alpha-2 code. #}
        nullif(upper(trim(country_id)), '') as country_code,
        telephone,

        ----------  booleans
        is_active = 1 as is_active,

        ----------  timestamps
        cast(created_at as {{ type_timestamp_ntz() }}) as created_at,
        cast(updated_at as {{ type_timestamp_ntz() }}) as updated_at,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    from source

)

select * from renamed
