{{ streamkap_cdc.cdc_current_state('magento', 'catalog_product_entity', unique_key='entity_id') }}
