"""`make bench-scale`: rows read per run against shop size and history length (magento_warehouse.devtools)."""

import sys

from magento_warehouse.devtools.bench_scale import main

if __name__ == "__main__":
    sys.exit(main())
