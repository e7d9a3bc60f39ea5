{{ streamkap_cdc.cdc_current_state('magento', 'catalog_product_entity_decimal', unique_key='value_id') }}
