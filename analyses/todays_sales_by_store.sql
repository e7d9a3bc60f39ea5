{# Replaces "today's sales so far by store", which traders ran on the
   production MySQL database: `sales_order` grouped by `store_id` for
   `created_at >= CURDATE()`, counting orders and summing `grand_total`.

   What changed:
   - It reads rpt_sales_by_hour_store, not Magento's tables, so it no longer
     loads the shop's database, and is a few minutes behind it.
   - "Today" is the UTC day of var `as_of` (default: now). CURDATE() was the
     server's local date compared with UTC `created_at` values, so the old
     day started at the wrong hour.
   - Canceled orders are left out (the old query counted them).
   - Revenue is goods net of discounts and refunds, excluding shipping and
     tax (the old `grand_total` included both, and ignored refunds).
   - It adds the same part of the day a week ago, for comparison: last week's
     hours up to and including the current hour of day (the report must
     keep 7 or more past days: var `sales_by_hour_past_days`). #}
with

sales_by_hour as (

    select * from {{ ref('rpt_sales_by_hour_store') }}

),

current_hour as (

    select max(hour_of_day) as hour_of_day

    from sales_by_hour
    where is_current_hour

),

store_days as (

    select
        sales_by_hour.store_id,
        sales_by_hour.store_code,
        sales_by_hour.store_name,
        sales_by_hour.website_code,
        sum(case when sales_by_hour.is_today then sales_by_hour.order_count else 0 end)
            as orders_today,
        sum(case when sales_by_hour.is_today then sales_by_hour.units_sold else 0 end)
            as units_today,
        sum(case when sales_by_hour.is_today then sales_by_hour.gross_revenue else 0 end)
            as gross_revenue_today,
        sum(case when sales_by_hour.is_today then sales_by_hour.net_revenue else 0 end)
            as net_revenue_today,
        sum(case when sales_by_hour.days_ago = 7 then sales_by_hour.order_count else 0 end)
            as orders_same_time_last_week,
        sum(case when sales_by_hour.days_ago = 7 then sales_by_hour.net_revenue else 0 end)
            as net_revenue_same_time_last_week

    from sales_by_hour
    cross join current_hour
    where
        sales_by_hour.is_today
        or (
            sales_by_hour.days_ago = 7
            and sales_by_hour.hour_of_day <= current_hour.hour_of_day
        )
    group by
        sales_by_hour.store_id,
        sales_by_hour.store_code,
        sales_by_hour.store_name,
        sales_by_hour.website_code

),

final as (

    select
        store_id,
        store_code,
        store_name,
        website_code,
        orders_today,
        units_today,
        gross_revenue_today,
        net_revenue_today,
        orders_same_time_last_week,
        net_revenue_same_time_last_week,
        case
            when net_revenue_same_time_last_week != 0
                then round(
                    100 * (net_revenue_today - net_revenue_same_time_last_week)
                    / net_revenue_same_time_last_week,
                    1
                )
        end as net_revenue_change_pct

    from store_days

)

select * from final
order by net_revenue_today desc, store_id asc
