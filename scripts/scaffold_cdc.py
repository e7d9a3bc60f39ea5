"""The scaffold: sources and current-state models from the landing schema (magento_warehouse.scaffold)."""

import sys

from magento_warehouse.scaffold.scaffold_cdc import main

if __name__ == "__main__":
    sys.exit(main())
