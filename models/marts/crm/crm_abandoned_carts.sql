{# Abandoned carts: open carts with goods and an email, idle for at least
   `abandoned_cart_idle_hours` but not older than `abandoned_cart_max_age_days`
   (both measured back from as_of), that did not become an order and whose
   shopper has not ordered since. One row per cart, with its lines and value. #}

{%- set idle_hours = positive_integer_var('abandoned_cart_idle_hours') %}
{%- set max_age_days = positive_integer_var('abandoned_cart_max_age_days') %}

with

quotes as (

    select * from {{ ref('stg_magento__quotes') }}

),

quote_items as (

    select * from {{ ref('stg_magento__quote_items') }}

),

orders as (

    select * from {{ ref('stg_magento__orders') }}

),

stores as (

    select * from {{ ref('stg_magento__stores') }}

),

open_carts as (

    {#- A cart Magento never updated has no update time: its creation time
        stands in for it. #}
    select
        quotes.*,
        coalesce(quotes.updated_at, quotes.created_at) as cart_updated_at

    from quotes
    where
        quotes.is_active
        and quotes.items_count > 0
        and trim(quotes.email) != ''
        and quotes.base_subtotal > 0

),

idle_carts as (

    select *

    from open_carts
    where
        cart_updated_at <= {{ dbt.dateadd('hour', -idle_hours, as_of_timestamp()) }}
        and cart_updated_at > {{ dbt.dateadd('day', -max_age_days, as_of_timestamp()) }}

),

converted_quotes as (

    select distinct quote_id

    from orders
    where quote_id is not null

),

carts_ordered_later as (

    {#- The shopper came back and bought, perhaps from another cart or device. #}
    select distinct idle_carts.quote_id

    from idle_carts
    inner join orders
        on
            idle_carts.email = orders.email
            and idle_carts.cart_updated_at < orders.created_at

),

abandoned_carts as (

    select idle_carts.*

    from idle_carts
    left join converted_quotes
        on idle_carts.quote_id = converted_quotes.quote_id
    left join carts_ordered_later
        on idle_carts.quote_id = carts_ordered_later.quote_id
    where
        converted_quotes.quote_id is null
        and carts_ordered_later.quote_id is null

),

cart_lines as (

    {#- Child lines of configurable and bundle products repeat their parent. #}
    select
        quote_items.quote_id,
        quote_items.quote_item_id,
        '{"sku":' || {{ json_string_value('quote_items.sku') }}
        || ',"name":' || {{ json_string_value('quote_items.product_name') }}
        || ',"qty":' || case
            when quote_items.qty is null then 'null'
            when quote_items.qty = floor(quote_items.qty)
                then cast(cast(quote_items.qty as bigint) as varchar)
            {#- A fractional quantity without Magento's trailing zeros (1.5000). #}
            else rtrim(cast(cast(quote_items.qty as decimal(12, 4)) as varchar), '0')
        end
        || '}' as line_json

    from quote_items
    inner join abandoned_carts
        on quote_items.quote_id = abandoned_carts.quote_id
    where not quote_items.is_child_item

),

cart_contents as (

    select
        quote_id,
        '[' || {{ dbt.listagg('line_json', "','", 'order by quote_item_id') }} || ']' as cart_items

    from cart_lines
    group by quote_id

),

ranked_carts as (

    select
        abandoned_carts.*,
        stores.website_id,
        cart_contents.cart_items,
        row_number() over (
            partition by abandoned_carts.email
            order by abandoned_carts.cart_updated_at desc, abandoned_carts.quote_id desc
        ) as email_rank

    from abandoned_carts
    left join stores
        on abandoned_carts.store_id = stores.store_id
    left join cart_contents
        on abandoned_carts.quote_id = cart_contents.quote_id

),

final as (

    select
        ----------  keys
        cast(quote_id as integer) as quote_id,
        cast(email as varchar) as email,
        cast(store_id as integer) as store_id,
        cast(website_id as integer) as website_id,
        cast(customer_id as integer) as customer_id,
        cast(is_guest as boolean) as is_guest,

        ----------  cart contents (Emarsys formats)
        cast(coalesce(cart_items, '[]') as varchar) as cart_items,
        cast(items_count as integer) as items_count,
        cast(items_qty as decimal(12, 4)) as items_qty,
        cast(base_subtotal as decimal(20, 4)) as cart_value,
        cast(base_currency_code as varchar) as base_currency_code,
        {{ to_iso_date_string('cart_updated_at') }} as cart_updated_date,

        ----------  sync filter
        cast(email_rank = 1 as boolean) as is_latest_cart_for_email,

        ----------  timestamps
        cast(created_at as {{ type_timestamp_ntz() }}) as cart_created_at,
        cast(cart_updated_at as {{ type_timestamp_ntz() }}) as cart_updated_at

    from ranked_carts

)

select * from final
