"""The simulated shop's change logs, into a DuckDB file (magento_warehouse.demo)."""

import sys

from magento_warehouse.demo.simulate_cdc import main

if __name__ == "__main__":
    sys.exit(main())
