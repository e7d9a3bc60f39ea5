{# Newsletter subscribers: one row per email and store view, with the status,
   the Emarsys opt-in and the time of the last consent change.
   Incremental: an email is recomputed when one of its subscriber records changed (its
   old email too, from the before image); a change of store views rebuilds. #}

{{ config(unique_key=['email', 'store_id'], crm_recompute_by='email') }}

-- depends_on: {{ ref('int_crm__email_keys') }}

{%- set newsletter_subscriber = crm_current_state('base_magento__newsletter_subscriber') %}
{%- set plan = crm_recompute_plan(
    'email', [newsletter_subscriber], rebuild_on=[crm_current_state('base_magento__store')]
) %}
{%- if plan['mode'] == 'changes' %}
    {%- set units_sql %}
        select {{ magento_email('subscriber_email') }} as unit
        from ({{ crm_changes(plan, newsletter_subscriber) }}) as changed
        union all
        select email as unit from {{ ref('stg_magento__newsletter_subscribers') }}
        where subscriber_id in ({{ crm_changed_keys(plan, newsletter_subscriber, 'subscriber_id') }})
    {%- endset %}
    {%- set plan = crm_recompute_units(plan, units_sql) %}
{%- endif %}

with

newsletter_subscribers as (

    select * from {{ ref('stg_magento__newsletter_subscribers') }}
    where {{ crm_email_rows(plan, 'newsletter_subscriber', 'subscriber_id') }}

),

stores as (

    select * from {{ ref('stg_magento__stores') }}

),

ranked_subscribers as (

    {#- Magento does not stop an email from having two records in one store
        view; the one that changed status last is the person's current choice. #}
    select
        newsletter_subscribers.*,
        row_number() over (
            partition by newsletter_subscribers.email, newsletter_subscribers.store_id
            order by
                newsletter_subscribers.status_changed_at desc nulls last,
                newsletter_subscribers.subscriber_id desc
        ) as recency_rank

    from newsletter_subscribers
    where newsletter_subscribers.email is not null

),

final as (

    select
        ----------  keys
        cast(ranked_subscribers.email as varchar) as email,
        cast(ranked_subscribers.store_id as integer) as store_id,
        cast(stores.website_id as integer) as website_id,
        cast(ranked_subscribers.subscriber_id as integer) as subscriber_id,
        cast(ranked_subscribers.customer_id as integer) as customer_id,
        cast(ranked_subscribers.is_guest as boolean) as is_guest,

        ----------  status
        cast(ranked_subscribers.subscriber_status_code as integer) as subscriber_status_code,
        cast(ranked_subscribers.subscriber_status_label as varchar) as subscriber_status_label,
        cast(ranked_subscribers.is_subscribed as boolean) as is_subscribed,
        cast(case when ranked_subscribers.is_subscribed then 1 else 2 end as integer) as opt_in,

        ----------  consent time
        {{ to_iso_date_string('ranked_subscribers.status_changed_at') }} as status_changed_date,
        cast(
            ranked_subscribers.status_changed_at as {{ type_timestamp_ntz() }}
        ) as status_changed_at

    from ranked_subscribers
    left join stores
        on ranked_subscribers.store_id = stores.store_id
    where ranked_subscribers.recency_rank = 1

)

select * from final
