{# Sales per store view and hour for today and the `sales_by_hour_past_days`
   (default 7) days before it, measured back from as_of (UTC): orders, units,
   gross and net revenue of orders that are not canceled. Every store view has
   a row for every hour from the window's first midnight to as_of's hour, with
   zeros where nothing sold. #}

{%- set past_days = positive_integer_var('sales_by_hour_past_days') %}

with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

stores as (

    select * from {{ ref('stg_magento__stores') }}

),

websites as (

    select * from {{ ref('stg_magento__websites') }}

),

report_window as (

    select
        {{ as_of_timestamp() }} as as_of_at,
        {{ dbt.date_trunc('hour', as_of_timestamp()) }} as current_hour_start_at,
        {{ dbt.dateadd('day', -past_days, dbt.date_trunc('day', as_of_timestamp())) }}
            as window_start_at

),

hour_numbers as (

    {#- Enough hours for every whole day and today; hours after as_of's hour
        are dropped below. #}
    {{ dbt.generate_series((past_days + 1) * 24) }}

),

window_hours as (

    select
        {{ dbt.dateadd(
            'hour',
            'cast(hour_numbers.generated_number as integer) - 1',
            'report_window.window_start_at'
        ) }} as hour_start_at

    from hour_numbers
    cross join report_window

),

store_hours as (

    {#- Store views only: store 0 is the admin scope, where no order is placed. #}
    select
        stores.store_id,
        stores.store_code,
        stores.store_name,
        stores.website_id,
        websites.website_code,
        window_hours.hour_start_at,
        report_window.as_of_at,
        report_window.current_hour_start_at

    from stores
    cross join window_hours
    cross join report_window
    left join websites
        on stores.website_id = websites.website_id
    where
        not stores.is_default_scope
        and window_hours.hour_start_at <= report_window.current_hour_start_at

),

window_lines as (

    {#- Orders are counted when placed; canceled orders count for nothing. Orders
        placed after as_of are left out, so a past as_of rebuilds a past report. #}
    select
        order_lines.*,
        {{ dbt.date_trunc('hour', 'order_lines.created_at') }} as hour_start_at

    from order_lines
    cross join report_window
    where
        not order_lines.is_canceled
        and order_lines.created_at >= report_window.window_start_at
        and order_lines.created_at <= report_window.as_of_at

),

hourly_sales as (

    select
        store_id,
        hour_start_at,
        count(distinct order_id) as order_count,
        count(*) as order_line_count,
        sum(qty_ordered - qty_canceled) as units_sold,
        sum(gross_revenue) as gross_revenue,
        sum(discount_amount) as discount_amount,
        sum(refunded_amount) as refunded_amount,
        sum(net_revenue) as net_revenue

    from window_lines
    group by store_id, hour_start_at

),

final as (

    select
        ----------  keys
        cast(store_hours.store_id as integer) as store_id,
        cast(store_hours.hour_start_at as {{ type_timestamp_ntz() }}) as hour_start_at,

        ----------  store
        cast(store_hours.store_code as varchar) as store_code,
        cast(store_hours.store_name as varchar) as store_name,
        cast(store_hours.website_id as integer) as website_id,
        cast(store_hours.website_code as varchar) as website_code,

        ----------  hour (UTC)
        cast(store_hours.hour_start_at as date) as sales_date,
        cast(extract(hour from store_hours.hour_start_at) as integer) as hour_of_day,
        cast(
            {{ dbt.datediff(
                'cast(store_hours.hour_start_at as date)',
                'cast(store_hours.as_of_at as date)',
                'day'
            ) }} as integer
        ) as days_ago,
        cast(
            cast(store_hours.hour_start_at as date) = cast(store_hours.as_of_at as date)
            as boolean
        ) as is_today,
        cast(
            store_hours.hour_start_at = store_hours.current_hour_start_at as boolean
        ) as is_current_hour,

        ----------  sales
        cast(coalesce(hourly_sales.order_count, 0) as integer) as order_count,
        cast(coalesce(hourly_sales.order_line_count, 0) as integer) as order_line_count,
        cast(coalesce(hourly_sales.units_sold, 0) as decimal(12, 4)) as units_sold,

        ----------  amounts (base currency)
        cast(coalesce(hourly_sales.gross_revenue, 0) as decimal(20, 4)) as gross_revenue,
        cast(coalesce(hourly_sales.discount_amount, 0) as decimal(20, 4)) as discount_amount,
        cast(coalesce(hourly_sales.refunded_amount, 0) as decimal(20, 4)) as refunded_amount,
        cast(coalesce(hourly_sales.net_revenue, 0) as decimal(20, 4)) as net_revenue

    from store_hours
    left join hourly_sales
        on
            store_hours.store_id = hourly_sales.store_id
            and store_hours.hour_start_at = hourly_sales.hour_start_at

)

select * from final
