{{ streamkap_cdc.cdc_history(
    'magento', 'cataloginventory_stock_item', unique_key='item_id',
    track_columns=['qty', 'is_in_stock']
) }}
