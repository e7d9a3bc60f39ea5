{{ streamkap_cdc.cdc_current_state('magento', 'sales_order_item', unique_key='item_id') }}
