{{ streamkap_cdc.cdc_current_state('magento', 'customer_group', unique_key='customer_group_id') }}
