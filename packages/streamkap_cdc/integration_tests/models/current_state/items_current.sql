{{ streamkap_cdc.cdc_current_state('shop', 'items', unique_key='item_id') }}
