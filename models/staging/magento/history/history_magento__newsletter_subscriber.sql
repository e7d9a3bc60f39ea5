{{ cdc_history('magento', 'newsletter_subscriber', unique_key='subscriber_id', track_columns=['subscriber_status', 'subscriber_email', 'store_id', 'customer_id', 'change_status_at']) }}
