"""`make demo`: the demo loop (magento_warehouse.demo)."""

import sys

from magento_warehouse.demo.run_demo import main

if __name__ == "__main__":
    sys.exit(main())
