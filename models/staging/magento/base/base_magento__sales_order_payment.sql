{{ streamkap_cdc.cdc_current_state('magento', 'sales_order_payment', unique_key='entity_id') }}
