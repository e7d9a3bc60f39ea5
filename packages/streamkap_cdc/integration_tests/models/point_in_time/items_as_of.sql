{#- Between the batches: after the first landed (00:00 to 01:00), before the second (02:00). -#}
select * from {{ streamkap_cdc.cdc_state_as_of(ref('items_history'), '2026-01-01 01:30:00') }} as state
