{# Out-of-stock periods, one row per stock item (product and stock) and period: when
   Magento's in-stock switch went off and when it came back on, how long that took,
   and the units sold in the 7 days before, i.e. the demand the stockout interrupted.
   From the stock items' history, so every period counts, however short, and a period
   whose events arrived late or out of order still gets its exact start and end. #}

{%- set demand_days = 7 %}

with

stock_item_versions as (

    {#- The versions in force by as_of, as they were then. #}
    select
        item_id as stock_item_id,
        product_id,
        stock_id,
        version_number,
        valid_from,
        is_in_stock = 1 as is_in_stock,
        cast(qty as decimal(12, 4)) as qty,
        case when valid_to <= {{ as_of_timestamp() }} then valid_to end as valid_to

    from {{ ref('history_magento__cataloginventory_stock_item') }}
    where valid_from <= {{ as_of_timestamp() }}

),

stock_units as (

    select * from {{ ref('int_order_items__stock_units') }}

),

with_previous as (

    select
        *,
        lag(is_in_stock) over (
            partition by stock_item_id order by version_number
        ) as previous_is_in_stock,
        lag(valid_to) over (
            partition by stock_item_id order by version_number
        ) as previous_valid_to

    from stock_item_versions

),

marked as (

    {#- A period starts at an out-of-stock version that opens the item's history,
        follows an in-stock one, or follows a gap (the item was deleted). #}
    select
        *,
        case
            when is_in_stock then 0
            when previous_is_in_stock is null or previous_is_in_stock then 1
            when previous_valid_to is null or previous_valid_to <> valid_from then 1
            else 0
        end as starts_period

    from with_previous

),

numbered as (

    select
        *,
        sum(starts_period) over (
            partition by stock_item_id
            order by version_number
            rows between unbounded preceding and current row
        ) as period_number

    from marked

),

periods as (

    {#- A period is open while its last version is. #}
    select
        stock_item_id,
        period_number,
        min(product_id) as product_id,
        min(stock_id) as stock_id,
        min(valid_from) as started_at,
        case
            when max(case when valid_to is null then 1 else 0 end) = 0 then max(valid_to)
        end as ended_at,
        min(qty) as lowest_qty

    from numbered
    where not is_in_stock
    group by stock_item_id, period_number

),

demand as (

    {#- Units taken from the product's stock in the days before each period
        (int_order_items__stock_units: child lines included, canceled orders
        and quantities left out). #}
    select
        periods.stock_item_id,
        periods.period_number,
        sum(stock_units.stock_units) as units_sold

    from periods
    inner join stock_units
        on periods.product_id = stock_units.product_id
    where
        stock_units.created_at >= {{ dbt.dateadd('day', -demand_days, 'periods.started_at') }}
        and stock_units.created_at < periods.started_at
    group by periods.stock_item_id, periods.period_number

),

final as (

    select
        cast(periods.stock_item_id as integer) as stock_item_id,
        cast(periods.period_number as integer) as stockout_number,
        cast(periods.product_id as integer) as product_id,
        cast(periods.stock_id as integer) as stock_id,
        cast(periods.started_at as {{ type_timestamp_ntz() }}) as started_at,
        cast(periods.ended_at as {{ type_timestamp_ntz() }}) as ended_at,
        periods.ended_at is null as is_ongoing,
        cast(
            {{ dbt.datediff(
                'periods.started_at',
                'coalesce(periods.ended_at, ' ~ as_of_timestamp() ~ ')',
                'second'
            ) }} / 3600.0 as decimal(12, 2)
        ) as duration_hours,
        cast(periods.lowest_qty as decimal(12, 4)) as lowest_qty,
        cast(coalesce(demand.units_sold, 0) as decimal(12, 4)) as units_sold_7d_before,
        cast(
            coalesce(demand.units_sold, 0) / {{ demand_days }}.0 as decimal(12, 4)
        ) as avg_daily_units_7d_before

    from periods
    left join demand
        on
            periods.stock_item_id = demand.stock_item_id
            and periods.period_number = demand.period_number

)

select * from final
