{# Newsletter subscriptions, one row per Magento subscriber record, with the
   status decoded. #}
with

source as (

    select * from {{ ref('base_magento__newsletter_subscriber') }}

),

subscriber_statuses as (

    select * from {{ ref('magento_newsletter_subscriber_statuses') }}

),

renamed as (

    select
        ----------  ids
        subscriber_id,
        store_id,
        {#- Magento writes 0, not NULL, for a guest subscriber. #}
        nullif(customer_id, 0) as customer_id,

        ----------  strings
        {{ magento_email('subscriber_email') }} as email,

        ----------  numerics
        subscriber_status as subscriber_status_code,

        ----------  booleans
        coalesce(customer_id, 0) = 0 as is_guest,

        ----------  timestamps
        cast(change_status_at as {{ type_timestamp_ntz() }}) as status_changed_at,

        ----------  metadata
        {{ epoch_ms_to_timestamp('_streamkap_ts_ms') }} as _loaded_at

    {#- subscriber_confirm_code is left out: it is a secret confirmation token. #}
    from source

),

decoded as (

    select
        renamed.*,
        subscriber_statuses.subscriber_status_label,
        coalesce(subscriber_statuses.is_subscribed, false) as is_subscribed

    from renamed
    left join subscriber_statuses
        on renamed.subscriber_status_code = subscriber_statuses.subscriber_status_code

)

select * from decoded
