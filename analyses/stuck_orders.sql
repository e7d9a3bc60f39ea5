{# Replaces "orders stuck in pending payment / processing", which traders ran
   on the production MySQL database: `sales_order` where `state IN
   ('pending_payment', 'processing')` and `updated_at < NOW() - INTERVAL 4
   HOUR`, ordered by `created_at`.

   What changed:
   - It reads the warehouse (stg_magento__orders, fct_order_lines), so it
     sees orders a few minutes late.
   - Time is measured back from var `as_of` (default: now, UTC); the old
     NOW() was the server's local time against UTC `updated_at` values.
   - The hours are var `stuck_order_hours` (default 4).
   - Orders still `new` (placed, not paid) and in `payment_review` or on hold
     (`holded`) are stuck too, and are listed with their state.
   - Each order shows how long it has waited since it was placed and since
     it last changed, and its units and net revenue (parent lines only). #}

{%- set stuck_after_hours = positive_integer_var('stuck_order_hours') %}

with

orders as (

    select * from {{ ref('stg_magento__orders') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

report_time as (

    select {{ as_of_timestamp() }} as as_of_at

),

open_orders as (

    {#- A never-updated order counts from when it was placed. #}
    select
        order_id,
        order_increment_id,
        store_id,
        order_state,
        order_status,
        base_grand_total,
        created_at,
        coalesce(updated_at, created_at) as last_changed_at

    from orders
    where order_state in ('new', 'pending_payment', 'payment_review', 'processing', 'holded')

),

stuck_orders as (

    select *

    from open_orders
    where
        last_changed_at
        <= {{ dbt.dateadd('hour', -stuck_after_hours, as_of_timestamp()) }}

),

order_contents as (

    select
        order_id,
        count(*) as order_line_count,
        sum(qty_ordered) as units_ordered,
        sum(net_revenue) as net_revenue

    from order_lines
    group by order_id

),

final as (

    select
        stuck_orders.order_id,
        stuck_orders.order_increment_id,
        stuck_orders.store_id,
        stuck_orders.order_state,
        stuck_orders.order_status,
        stuck_orders.created_at,
        stuck_orders.last_changed_at,
        {#- Whole hours elapsed (datediff in hours counts clock-hour boundaries). #}
        floor(
            {{ dbt.datediff(
                'stuck_orders.created_at',
                'report_time.as_of_at',
                'minute'
            ) }} / 60
        ) as hours_since_placed,
        floor(
            {{ dbt.datediff(
                'stuck_orders.last_changed_at',
                'report_time.as_of_at',
                'minute'
            ) }} / 60
        ) as hours_since_last_change,
        order_contents.order_line_count,
        order_contents.units_ordered,
        order_contents.net_revenue,
        stuck_orders.base_grand_total

    from stuck_orders
    cross join report_time
    left join order_contents
        on stuck_orders.order_id = order_contents.order_id

)

select * from final
order by order_state, last_changed_at, order_id
