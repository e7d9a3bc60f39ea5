{# Customer account changes, one row per version of an account from the customers'
   history: the customer group and the active flag it had from that moment, what
   changed from the version before, and whether the email changed (an email change is
   a new contact key in Emarsys). No personal data: the email itself stays in the CRM
   marts. Versions that began after as_of are left out. #}

with

customer_versions as (

    select
        entity_id as customer_id,
        version_number,
        group_id as customer_group_id,
        valid_from,
        is_active = 1 as is_active,
        lower(trim(email)) as normalized_email,
        case when valid_to <= {{ as_of_timestamp() }} then valid_to end as valid_to

    from {{ ref('history_magento__customer_entity') }}
    where valid_from <= {{ as_of_timestamp() }}

),

compared as (

    select
        *,
        lag(customer_group_id) over (
            partition by customer_id order by version_number
        ) as previous_customer_group_id,
        lag(is_active) over (
            partition by customer_id order by version_number
        ) as previous_is_active,
        lag(normalized_email) over (
            partition by customer_id order by version_number
        ) as previous_email,
        lag(valid_to) over (
            partition by customer_id order by version_number
        ) as previous_valid_to

    from customer_versions

),

final as (

    {#- NULL-safe comparisons: a change to or from NULL counts. A version after a
        gap follows a deletion of the account: re-created. #}
    select
        cast(customer_id as integer) as customer_id,
        cast(version_number as integer) as version_number,
        cast(valid_from as {{ type_timestamp_ntz() }}) as changed_at,
        cast(valid_to as {{ type_timestamp_ntz() }}) as valid_to,
        cast(customer_group_id as integer) as customer_group_id,
        cast(previous_customer_group_id as integer) as previous_customer_group_id,
        is_active,
        previous_is_active,
        version_number = 1 as is_first_version,
        version_number > 1 and coalesce(
            previous_valid_to <> valid_from, previous_valid_to is null
        ) as is_recreated,
        version_number > 1 and coalesce(
            previous_customer_group_id <> customer_group_id,
            not (previous_customer_group_id is null and customer_group_id is null)
        ) as is_group_changed,
        version_number > 1 and coalesce(
            previous_is_active <> is_active,
            not (previous_is_active is null and is_active is null)
        ) as is_active_changed,
        version_number > 1 and coalesce(
            previous_email <> normalized_email,
            not (previous_email is null and normalized_email is null)
        ) as is_email_changed

    from compared

)

select * from final
