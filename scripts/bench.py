"""`make bench`: the single-table benchmark (magento_warehouse.devtools)."""

import sys

from magento_warehouse.devtools.bench import main

if __name__ == "__main__":
    sys.exit(main())
