{{ streamkap_cdc.cdc_current_state('magento', 'newsletter_subscriber', unique_key='subscriber_id') }}
