{# Registered customer accounts, one row per account, with gender decoded. #}
with

source as (

    select * from {{ ref('base_magento__customer_entity') }}

),

genders as (

    select * from {{ ref('magento_genders') }}

),

renamed as (

    select
        ----------  ids
        entity_id as customer_id,
        website_id,
        store_id,
        group_id as customer_group_id,
        default_billing as default_billing_address_id,
        default_shipping as default_shipping_address_id,

        ----------  strings
        {#- Emails are matched across customers, orders, carts and subscribers. #}
        {{ magento_email('email') }} as email,
        nullif(trim(prefix), '') as name_prefix,
        nullif(trim(firstname), '') as first_name,
        nullif(trim(middlename), '') as middle_name,
        nullif(trim(lastname), '') as last_name,
        nullif(trim(suffix), '') as name_suffix,
        created_in as created_in_store_name,

        ----------  numerics
        gender as gender_code,

        ----------  booleans
        is_active = 1 as is_active,

        ----------  dates
        cast(dob as date) as date_of_birth,

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
        genders.gender_label

    from renamed
    left join genders
        on renamed.gender_code = genders.gender_code

)

select * from decoded
