{# True when the window's event `new` waits a run (see cdc_latest_events): whether it
   is a redelivery decides what it does, and its original, if any, may lie outside
   what the run read (cdc_held_back_rule). That is a key without a row (a redelivery of
   a deleted key's event must not bring it back) for an event other than a delete, or
   a row that `new` is later than only if it is no redelivery (cdc_needs_original).
   `old_key`: a key column of `old`, NULL when the key has no row; `old_delivered_ms`:
   see cdc_event_order. #}
{% macro cdc_is_held_back(new, old, old_key, columns, offset_resets, window_start, margin_ms, held_range=none,
                          old_delivered_ms=none) -%}
    ({{ streamkap_cdc.cdc_held_back_rule(new ~ '._streamkap_source_ts_ms', window_start, margin_ms, held_range)['predicate'] }}
     and case
        when {{ old }}.{{ old_key }} is null then not {{ new }}.__deleted
        else {{ streamkap_cdc.cdc_is_newer(new, old, columns, offset_resets, old_delivered_ms) }} and {{ streamkap_cdc.cdc_needs_original(new, old) }}
     end)
{%- endmacro %}


{# The held-back rule of a window, its two halves together:
   - `predicate`: SQL true when the event committed at `commit_ts` could, were it a
     redelivery, have its original outside what the run reads: committed more than
     `margin_ms` before the window, and outside the commit times held back by the
     previous run (cdc_record_watermark), whose originals the run looks up. Such an event
     waits a run when its decision depends on it;
   - `reach_ms`: where the run's read of the log before the window starts (epoch ms). An
     original is delivered no earlier than a margin (the bound on clock skew) before its
     redelivery's commit time, so every event the predicate lets through has its
     original at or after the predicate's bound minus one margin: two margins before
     the window. #}
{% macro cdc_held_back_rule(commit_ts, window_start, margin_ms, held_range=none) %}
    {%- set checked_from_ms = window_start - margin_ms -%}
    {%- set predicate -%}
        ({{ commit_ts }} < {{ checked_from_ms }}
        {%- if held_range %} and not {{ commit_ts }} between {{ held_range[0] }} and {{ held_range[1] }}{% endif %})
    {%- endset -%}
    {{ return({'predicate': predicate, 'reach_ms': checked_from_ms - margin_ms}) }}
{% endmacro %}


{# The window's events that wait a run after the MERGE (cdc_is_held_back of each key's
   latest delivery against the row the MERGE left), with the ingestion time of their
   key's first event in the window (first_ms) and their commit time (commit_ms), for
   cdc_record_watermark. A redelivery the MERGE left out may count too: the next run
   then looks up its original and lets it go. #}
{% macro cdc_held_back_events(change_log, target, key_names, columns, window_start, margin_ms, offset_resets,
                              held_range=none) %}
    {%- set state_keys = [] -%}
    {%- for column in streamkap_cdc.cdc_pick_columns(columns, key_names) %}{% do state_keys.append(streamkap_cdc.cdc_state_column(column.name)) %}{% endfor %}
                select incoming.__cdc_first_ms as first_ms, incoming._streamkap_source_ts_ms as commit_ms
                from (
                    select
                        window_events.*,
                        min(_streamkap_ts_ms) over (partition by {{ state_keys | join(', ') }}) as __cdc_first_ms
                    from (
                        {{ streamkap_cdc.cdc_read_events(change_log, key_names, columns) }}
                            and {{ streamkap_cdc.cdc_log_column(columns, '_streamkap_ts_ms') }} >= {{ window_start }}
                    ) as window_events
                    {#- The key's latest delivery: an older one waits only with it. #}
                    qualify row_number() over (
                        partition by {{ state_keys | join(', ') }} order by _streamkap_ts_ms desc, _streamkap_offset desc
                    ) = 1
                ) as incoming
                left join {{ target }} as current_state
                    on {{ streamkap_cdc.cdc_same_key('current_state', 'incoming', state_keys) }}
                where {{ streamkap_cdc.cdc_is_held_back('incoming', 'current_state', state_keys[0], columns, offset_resets, window_start,
                                          margin_ms, held_range) }}
{%- endmacro %}
