{{ streamkap_cdc.cdc_history('magento', 'store', unique_key='store_id') }}
