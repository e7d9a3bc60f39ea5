{{ streamkap_cdc.cdc_current_state('magento', 'store', unique_key='store_id') }}
