{{ streamkap_cdc.cdc_current_state('magento', 'store_website', unique_key='website_id') }}
