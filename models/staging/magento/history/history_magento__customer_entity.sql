{{ streamkap_cdc.cdc_history(
    'magento', 'customer_entity', unique_key='entity_id',
    track_columns=['group_id', 'is_active', 'email']
) }}
