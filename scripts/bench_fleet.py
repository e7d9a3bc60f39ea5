"""`make bench`: the fleet benchmark (magento_warehouse.devtools)."""

import sys

from magento_warehouse.devtools.bench_fleet import main

if __name__ == "__main__":
    sys.exit(main())
