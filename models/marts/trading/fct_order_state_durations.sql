{# Time each order spent in each state and status: one row per order and
   (state, status) pair it was in, with when it first entered it, when it last left
   it, how often it entered it and how long it stayed in all. From the orders'
   history, so a status held for seconds still counts, and late or out-of-order
   events are in their place. Measured up to as_of: a past as_of rebuilds a past
   report, and the pair an order is in at as_of counts up to as_of. #}

with

order_versions as (

    {#- A version still open at as_of (or closed after it) runs up to as_of. #}
    select
        entity_id as order_id,
        state as order_state,
        status as order_status,
        version_number,
        valid_from,
        case when valid_to <= {{ as_of_timestamp() }} then valid_to end as valid_to

    from {{ ref('history_magento__sales_order') }}
    where valid_from <= {{ as_of_timestamp() }}

),

timed as (

    {#- is_open: the pair the order is in at as_of; a deleted order is in none. #}
    select
        *,
        valid_to is null as is_open,
        {{ dbt.datediff(
            'valid_from', 'coalesce(valid_to, ' ~ as_of_timestamp() ~ ')', 'second'
        ) }} as seconds_in_version

    from order_versions

),

pairs as (

    select
        order_id,
        order_state,
        order_status,
        min(valid_from) as first_entered_at,
        case
            when max(case when is_open then 1 else 0 end) = 0 then max(valid_to)
        end as last_left_at,
        count(*) as times_entered,
        sum(seconds_in_version) as seconds_in_status,
        max(case when is_open then 1 else 0 end) = 1 as is_current

    from timed
    group by order_id, order_state, order_status

),

final as (

    select
        cast(order_id as integer) as order_id,
        cast(order_state as varchar) as order_state,
        cast(order_status as varchar) as order_status,
        cast(first_entered_at as {{ type_timestamp_ntz() }}) as first_entered_at,
        cast(last_left_at as {{ type_timestamp_ntz() }}) as last_left_at,
        cast(times_entered as integer) as times_entered,
        cast(seconds_in_status / 3600.0 as decimal(14, 4)) as hours_in_status,
        is_current

    from pairs

)

select * from final
