"""`make bench-lag`: rows read per cycle with a lagging partition (magento_warehouse.devtools)."""

import sys

from magento_warehouse.devtools.bench_lag import main

if __name__ == "__main__":
    sys.exit(main())
