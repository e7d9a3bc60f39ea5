{#- Besides the status, the columns crm_newsletter_subscribers sends: that mart can be
    rebuilt exactly as of any moment (streamkap_cdc README, History). -#}
{{ streamkap_cdc.cdc_history(
    'magento', 'newsletter_subscriber', unique_key='subscriber_id',
    track_columns=['subscriber_status', 'subscriber_email', 'store_id', 'customer_id', 'change_status_at']
) }}
