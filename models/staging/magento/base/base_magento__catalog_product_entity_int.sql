{{ streamkap_cdc.cdc_current_state('magento', 'catalog_product_entity_int', unique_key='value_id') }}
