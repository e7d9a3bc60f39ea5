{{ streamkap_cdc.cdc_current_state('magento', 'eav_attribute', unique_key='attribute_id') }}
