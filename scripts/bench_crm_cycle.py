"""`make bench`: the CRM job against its earlier definition (magento_warehouse.devtools)."""

import sys

from magento_warehouse.devtools.bench_crm_cycle import main

if __name__ == "__main__":
    sys.exit(main())
