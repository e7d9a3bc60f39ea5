{{ config(alias='accounts') }}{{ landed_change_log('accounts') }}
