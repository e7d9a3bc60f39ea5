"""python -m magento_warehouse.runner: the runner (scripts/run_and_sync.py)."""

from magento_warehouse.runner.run_and_sync import exit_now, main

exit_now(main())
