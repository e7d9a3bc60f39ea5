"""Writes or checks the dbt exposures of the Hightouch syncs (magento_warehouse.hightouch_workspace)."""

import sys

from magento_warehouse.hightouch_workspace.cli import main

if __name__ == "__main__":
    sys.exit(main())
