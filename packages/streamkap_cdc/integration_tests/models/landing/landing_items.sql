{{ config(alias='items') }}{{ landed_change_log('items') }}
