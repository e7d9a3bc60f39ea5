{{ streamkap_cdc.cdc_current_state('magento', 'quote_item', unique_key='item_id') }}
