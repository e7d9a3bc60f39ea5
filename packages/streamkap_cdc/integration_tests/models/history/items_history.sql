{{ streamkap_cdc.cdc_history('shop', 'items', unique_key='item_id') }}
