{# Abandoned carts: open carts with goods and an email, idle for at least
   `abandoned_cart_idle_hours` but not older than `abandoned_cart_max_age_days`
   (both measured back from as_of), that did not become an order and whose
   shopper has not ordered since. One row per cart, with its lines and value.
   Incremental: an email is recomputed when one of its carts, a line of one, or one of
   its orders changed (old emails too, from the before images; a cart that became an
   order through the order's quote), and when one of its carts crossed the idle or the
   age limit as as_of moved since the previous run; a change of store views rebuilds. #}

{{ config(unique_key='quote_id', crm_recompute_by='email') }}

-- depends_on: {{ ref('int_crm__email_keys') }}

{%- set idle_hours = positive_integer_var('abandoned_cart_idle_hours') %}
{%- set max_age_days = positive_integer_var('abandoned_cart_max_age_days') %}
{%- set quote = crm_current_state('base_magento__quote') %}
{%- set quote_item = crm_current_state('base_magento__quote_item') %}
{%- set sales_order = crm_current_state('base_magento__sales_order') %}
{%- set plan = crm_recompute_plan(
    'email', [quote, quote_item, sales_order], rebuild_on=[crm_current_state('base_magento__store')]
) %}
{%- if plan['mode'] == 'changes' %}
    {#- A cart crosses the idle or the age limit when its time (its update time, else its
        creation time) lies between the limit measured from the previous as_of and from
        this one. #}
    {%- set idle_from = dbt.dateadd('hour', -idle_hours, plan['previous_as_of']) %}
    {%- set idle_to = dbt.dateadd('hour', -idle_hours, plan['as_of']) %}
    {%- set age_from = dbt.dateadd('day', -max_age_days, plan['previous_as_of']) %}
    {%- set age_to = dbt.dateadd('day', -max_age_days, plan['as_of']) %}
    {#- One lookup per branch: each filters its scan by a small subquery of changed keys,
        or by a range of one column. #}
    {%- set units_sql %}
        select {{ magento_email('customer_email') }} as unit from ({{ crm_changes(plan, quote) }}) as changed
        union all
        select {{ magento_email('customer_email') }} as unit from ({{ crm_changes(plan, sales_order) }}) as changed
        union all
        select email as unit from {{ ref('stg_magento__orders') }}
        where order_id in ({{ crm_changed_keys(plan, sales_order, 'entity_id') }})
        union all
        select email as unit from {{ ref('stg_magento__quotes') }}
        where quote_id in ({{ crm_changed_keys(plan, quote, 'entity_id') }})
        {#- Carts of changed lines, before and after. #}
        union all
        select email as unit from {{ ref('stg_magento__quotes') }}
        where quote_id in ({{ crm_changed_keys(plan, quote_item, 'quote_id') }})
        union all
        select email as unit from {{ ref('stg_magento__quotes') }}
        where quote_id in ({{ crm_key_values(
            "select quote_id from " ~ ref('stg_magento__quote_items')
            ~ " where quote_item_id in (" ~ crm_changed_keys(plan, quote_item, 'item_id') ~ ")"
        ) }})
        {#- Carts that changed orders were or are placed from. #}
        union all
        select email as unit from {{ ref('stg_magento__quotes') }}
        where quote_id in ({{ crm_changed_keys(plan, sales_order, 'quote_id') }})
        union all
        select email as unit from {{ ref('stg_magento__quotes') }}
        where quote_id in ({{ crm_key_values(
            "select quote_id from " ~ ref('stg_magento__orders')
            ~ " where order_id in (" ~ crm_changed_keys(plan, sales_order, 'entity_id') ~ ")"
        ) }})
        union all
        select email as unit from {{ ref('stg_magento__quotes') }}
        where updated_at > {{ idle_from }} and updated_at <= {{ idle_to }}
        union all
        select email as unit from {{ ref('stg_magento__quotes') }}
        where updated_at is null and created_at > {{ idle_from }} and created_at <= {{ idle_to }}
        union all
        select email as unit from {{ ref('stg_magento__quotes') }}
        where updated_at > {{ age_from }} and updated_at <= {{ age_to }}
        union all
        select email as unit from {{ ref('stg_magento__quotes') }}
        where updated_at is null and created_at > {{ age_from }} and created_at <= {{ age_to }}
    {%- endset %}
    {%- set plan = crm_recompute_units(plan, units_sql) %}
{%- endif %}

with

quotes as (

    select * from {{ ref('stg_magento__quotes') }}
    where {{ crm_email_rows(plan, 'quote', 'quote_id') }}

),

quote_items as (

    select * from {{ ref('stg_magento__quote_items') }}
    {%- if plan['mode'] != 'full' %}
    where quote_id in (select quote_id from quotes)
    {%- endif %}

),

orders as (

    {#- Orders of the emails recomputed (ordered later) and of their carts (converted). #}
    select * from {{ ref('stg_magento__orders') }}
    {%- if plan['mode'] != 'full' %}
    where {{ crm_email_rows(plan, 'sales_order', 'order_id') }}
    {#- A union, not an OR: each branch's filter then applies to its scan. #}
    union
    select * from {{ ref('stg_magento__orders') }}
    where quote_id in (select quote_id from quotes)
    {%- endif %}

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
        cart_updated_at <= {{ dbt.dateadd('hour', -idle_hours, plan['as_of']) }}
        and cart_updated_at > {{ dbt.dateadd('day', -max_age_days, plan['as_of']) }}

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
