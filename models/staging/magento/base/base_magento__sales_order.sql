{{ streamkap_cdc.cdc_current_state('magento', 'sales_order', unique_key='entity_id') }}
