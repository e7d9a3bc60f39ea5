{{ streamkap_cdc.cdc_current_state('magento', 'cataloginventory_stock_item', unique_key='item_id') }}
