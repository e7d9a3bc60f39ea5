{{ streamkap_cdc.cdc_current_state('magento', 'customer_address_entity', unique_key='entity_id') }}
