{{ streamkap_cdc.cdc_current_state('shop', 'accounts', unique_key='account_id') }}
