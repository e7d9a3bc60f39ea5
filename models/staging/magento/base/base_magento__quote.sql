{{ streamkap_cdc.cdc_current_state('magento', 'quote', unique_key='entity_id') }}
