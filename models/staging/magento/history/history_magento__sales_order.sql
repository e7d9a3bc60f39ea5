{{ streamkap_cdc.cdc_history(
    'magento', 'sales_order', unique_key='entity_id',
    track_columns=['state', 'status']
) }}
