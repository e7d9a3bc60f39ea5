"""What runs in production: the runner (dbt, then Hightouch), its Hightouch client, change check and manifest cache."""
