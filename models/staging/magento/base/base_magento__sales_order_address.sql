{{ streamkap_cdc.cdc_current_state('magento', 'sales_order_address', unique_key='entity_id') }}
