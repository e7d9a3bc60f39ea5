{# CRM contacts: one row per email and website, for registered customers and
   for guests who have ordered. When an email has both an account and guest
   orders on a website, the account wins. Synced columns are in Emarsys's
   formats.
   Incremental: an email is recomputed when its customer account, its default billing address,
   a subscription, an order or an order's address changed (old emails too, from the
   before images); a change of store views or customer groups rebuilds. #}

{{ config(unique_key=['email', 'website_id'], crm_recompute_by='email') }}

-- depends_on: {{ ref('int_crm__email_keys') }}

{%- set customer_entity = crm_current_state('base_magento__customer_entity') %}
{%- set customer_address_entity = crm_current_state('base_magento__customer_address_entity') %}
{%- set newsletter_subscriber = crm_current_state('base_magento__newsletter_subscriber') %}
{%- set sales_order = crm_current_state('base_magento__sales_order') %}
{%- set sales_order_address = crm_current_state('base_magento__sales_order_address') %}
{%- set plan = crm_recompute_plan(
    'email',
    [customer_entity, customer_address_entity, newsletter_subscriber, sales_order, sales_order_address],
    rebuild_on=[crm_current_state('base_magento__store'), crm_current_state('base_magento__customer_group')]
) %}
{%- if plan['mode'] == 'changes' %}
    {#- One lookup per branch: each filters its scan by a small subquery of changed keys. #}
    {%- set units_sql %}
        select {{ magento_email('email') }} as unit from ({{ crm_changes(plan, customer_entity) }}) as changed
        union all
        select email as unit from {{ ref('stg_magento__customers') }}
        where customer_id in ({{ crm_changed_keys(plan, customer_entity, 'entity_id') }})
        union all
        {#- Customers whose default billing address changed: the mart joins the address
            by its id alone, whoever owns it. #}
        select email as unit from {{ ref('stg_magento__customers') }}
        where default_billing_address_id in ({{ crm_changed_keys(plan, customer_address_entity, 'entity_id') }})
        union all
        select {{ magento_email('subscriber_email') }} as unit
        from ({{ crm_changes(plan, newsletter_subscriber) }}) as changed
        union all
        select email as unit from {{ ref('stg_magento__newsletter_subscribers') }}
        where subscriber_id in ({{ crm_changed_keys(plan, newsletter_subscriber, 'subscriber_id') }})
        union all
        select {{ magento_email('customer_email') }} as unit from ({{ crm_changes(plan, sales_order) }}) as changed
        union all
        select email as unit from {{ ref('stg_magento__orders') }}
        where order_id in ({{ crm_changed_keys(plan, sales_order, 'entity_id') }})
        union all
        {#- The orders of changed order addresses, before and after. #}
        select email as unit from {{ ref('stg_magento__orders') }}
        where order_id in ({{ crm_changed_keys(plan, sales_order_address, 'parent_id') }})
        union all
        select email as unit from {{ ref('stg_magento__orders') }}
        where order_id in ({{ crm_key_values(
            "select order_id from " ~ ref('stg_magento__order_addresses')
            ~ " where order_address_id in (" ~ crm_changed_keys(plan, sales_order_address, 'entity_id') ~ ")"
        ) }})
    {%- endset %}
    {%- set plan = crm_recompute_units(plan, units_sql) %}
{%- endif %}

with

customers as (

    select * from {{ ref('stg_magento__customers') }}
    where {{ crm_email_rows(plan, 'customer_entity', 'customer_id') }}

),

customer_addresses as (

    {#- Only the default billing addresses of the customers recomputed. #}
    select * from {{ ref('stg_magento__customer_addresses') }}
    {%- if plan['mode'] != 'full' %}
    where customer_address_id in (select default_billing_address_id from customers)
    {%- endif %}

),

customer_groups as (

    select * from {{ ref('stg_magento__customer_groups') }}

),

orders as (

    select * from {{ ref('stg_magento__orders') }}
    where {{ crm_email_rows(plan, 'sales_order', 'order_id') }}

),

order_addresses as (

    select * from {{ ref('stg_magento__order_addresses') }}
    {%- if plan['mode'] != 'full' %}
    where order_id in (select order_id from orders)
    {%- endif %}

),

newsletter_subscribers as (

    select * from {{ ref('stg_magento__newsletter_subscribers') }}
    where {{ crm_email_rows(plan, 'newsletter_subscriber', 'subscriber_id') }}

),

stores as (

    select * from {{ ref('stg_magento__stores') }}

),

ranked_customers as (

    {#- Magento keeps emails unique per website, but only up to case and
        spaces; should two accounts share a cleaned email, the most recently
        updated one represents it. #}
    select
        customers.*,
        row_number() over (
            partition by customers.email, customers.website_id
            order by customers.updated_at desc nulls last, customers.customer_id desc
        ) as email_rank

    from customers
    where customers.email is not null

),

registered_contacts as (

    select
        ranked_customers.email,
        ranked_customers.website_id,
        ranked_customers.customer_id,
        false as is_guest,
        ranked_customers.first_name,
        ranked_customers.last_name,
        ranked_customers.date_of_birth,
        ranked_customers.gender_code,
        default_billing_addresses.country_code,
        ranked_customers.customer_group_id,
        ranked_customers.created_at as registered_at

    from ranked_customers
    left join customer_addresses as default_billing_addresses
        on
            ranked_customers.default_billing_address_id
            = default_billing_addresses.customer_address_id
    where ranked_customers.email_rank = 1

),

guest_orders as (

    select
        orders.*,
        stores.website_id,
        row_number() over (
            partition by orders.email, stores.website_id
            order by orders.created_at desc nulls last, orders.order_id desc
        ) as recency_rank

    from orders
    inner join stores
        on orders.store_id = stores.store_id
    where
        orders.is_guest
        and orders.email is not null

),

billing_addresses as (

    select
        order_id,
        country_code

    from order_addresses
    where address_type = 'billing'

),

guest_contacts as (

    {#- A guest has no profile: name, group and country come from the latest
        order on that website. #}
    select
        guest_orders.email,
        guest_orders.website_id,
        cast(null as integer) as customer_id,
        true as is_guest,
        guest_orders.customer_first_name as first_name,
        guest_orders.customer_last_name as last_name,
        cast(null as date) as date_of_birth,
        cast(null as integer) as gender_code,
        billing_addresses.country_code,
        guest_orders.customer_group_id,
        cast(null as {{ type_timestamp_ntz() }}) as registered_at

    from guest_orders
    left join billing_addresses
        on guest_orders.order_id = billing_addresses.order_id
    where guest_orders.recency_rank = 1

),

guests_without_account as (

    select guest_contacts.*

    from guest_contacts
    left join registered_contacts
        on
            guest_contacts.email = registered_contacts.email
            and guest_contacts.website_id = registered_contacts.website_id
    where registered_contacts.email is null

),

contacts as (

    select * from registered_contacts

    union all

    select * from guests_without_account

),

newsletter_consents as (

    {#- Opted in when subscribed in any store view of the website: Magento keeps
        one subscription per store view and mails each one that is active. #}
    select
        newsletter_subscribers.email,
        stores.website_id,
        max(case when newsletter_subscribers.is_subscribed then 1 else 0 end) as has_subscription

    from newsletter_subscribers
    inner join stores
        on newsletter_subscribers.store_id = stores.store_id
    where newsletter_subscribers.email is not null
    group by
        newsletter_subscribers.email,
        stores.website_id

),

final as (

    select
        ----------  keys
        cast(contacts.email as varchar) as email,
        cast(contacts.website_id as integer) as website_id,
        cast(contacts.customer_id as integer) as customer_id,
        cast(contacts.is_guest as boolean) as is_guest,

        ----------  profile (Emarsys formats)
        cast(contacts.first_name as varchar) as first_name,
        cast(contacts.last_name as varchar) as last_name,
        {{ to_iso_date_string('contacts.date_of_birth') }} as birth_date,
        cast(
            case when contacts.gender_code in (1, 2, 3) then contacts.gender_code end
            as integer
        ) as gender,
        cast(contacts.country_code as varchar) as country_code,
        cast(contacts.customer_group_id as integer) as customer_group_id,
        cast(customer_groups.customer_group_name as varchar) as customer_group,
        cast(
            case when newsletter_consents.has_subscription = 1 then 1 else 2 end
            as integer
        ) as opt_in,
        {{ to_iso_date_string('contacts.registered_at') }} as registration_date,

        ----------  timestamps
        cast(contacts.registered_at as {{ type_timestamp_ntz() }}) as registered_at

    from contacts
    left join customer_groups
        on contacts.customer_group_id = customer_groups.customer_group_id
    left join newsletter_consents
        on
            contacts.email = newsletter_consents.email
            and contacts.website_id = newsletter_consents.website_id

)

select * from final
