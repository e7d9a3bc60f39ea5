{# The column a Hightouch sync upserts Emarsys contacts on (email) must be set
   and unique, or rows are rejected or overwrite each other. `per` lists the
   columns that scope the sync (e.g. website_id when each website is synced to
   its own Emarsys account): the key must be unique within each scope. Filter
   the rows the sync sends with the test's `where` config. #}
{% test emarsys_sync_key(model, column_name, per=[]) %}

{%- set group_columns = per + [column_name] %}

select
    {{ group_columns | join(',\n    ') }},
    count(*) as rows_with_key

from {{ model }}
group by {{ group_columns | join(', ') }}
having
    {{ column_name }} is null
    or trim({{ column_name }}) = ''
    or count(*) > 1

{% endtest %}
