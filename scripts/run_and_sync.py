"""The production runner: dbt, then the Hightouch syncs it fed (magento_warehouse.runner)."""

from magento_warehouse.runner.run_and_sync import exit_now, main

if __name__ == "__main__":
    exit_now(main())
