{# Customer accounts created in the last `crm_new_customers_window_minutes`
   before as_of, for the frequent sync that lets Emarsys send its welcome
   programme soon after registration. The window is wider than the sync
   interval, so a late or skipped run misses nobody; Emarsys upserts on email,
   so a contact sent twice is harmless.
   Incremental: a customer is recomputed when its account changed, and when its
   creation time entered or left the window as as_of moved since the previous run; a
   change of customer groups rebuilds. #}

{{ config(unique_key='customer_id', crm_recompute_by='customer_id') }}

{%- set window_minutes = positive_integer_var('crm_new_customers_window_minutes') %}
{%- set customer_entity = crm_current_state('base_magento__customer_entity') %}
{%- set plan = crm_recompute_plan(
    'customer_id', [customer_entity], rebuild_on=[crm_current_state('base_magento__customer_group')]
) %}
{%- if plan['mode'] == 'changes' %}
    {%- set units_sql %}
        select entity_id as unit from ({{ crm_changes(plan, customer_entity) }}) as changed
        union all
        {#- Entered the window (created after the previous as_of) or left it: one range
            of the creation time per branch, which filters the scan. #}
        select customer_id as unit from {{ ref('stg_magento__customers') }}
        where created_at > {{ plan['previous_as_of'] }} and created_at <= {{ plan['as_of'] }}
        union all
        select customer_id as unit from {{ ref('stg_magento__customers') }}
        where
            created_at > {{ dbt.dateadd('minute', -window_minutes, plan['previous_as_of']) }}
            and created_at <= {{ dbt.dateadd('minute', -window_minutes, plan['as_of']) }}
    {%- endset %}
    {%- set plan = crm_recompute_units(plan, units_sql) %}
{%- endif %}

with

customers as (

    select * from {{ ref('stg_magento__customers') }}
    where {{ crm_recompute_filter(plan, 'customer_id') }}

),

customer_groups as (

    select * from {{ ref('stg_magento__customer_groups') }}

),

new_customers as (

    select *

    from customers
    where
        email is not null
        and created_at > {{ dbt.dateadd('minute', -window_minutes, plan['as_of']) }}
        and created_at <= {{ plan['as_of'] }}

),

final as (

    select
        ----------  keys
        cast(new_customers.customer_id as integer) as customer_id,
        cast(new_customers.email as varchar) as email,
        cast(new_customers.website_id as integer) as website_id,
        cast(new_customers.store_id as integer) as store_id,

        ----------  profile (Emarsys formats)
        cast(new_customers.first_name as varchar) as first_name,
        cast(new_customers.last_name as varchar) as last_name,
        cast(new_customers.customer_group_id as integer) as customer_group_id,
        cast(customer_groups.customer_group_name as varchar) as customer_group,
        {{ to_iso_date_string('new_customers.created_at') }} as registration_date,

        ----------  timestamps
        cast(new_customers.created_at as {{ type_timestamp_ntz() }}) as registered_at

    from new_customers
    left join customer_groups
        on new_customers.customer_group_id = customer_groups.customer_group_id

)

select * from final
