"""`make snowflake-check`: the project for a snowflake target, in the emulator (magento_warehouse.devtools)."""

import sys

from magento_warehouse.devtools.snowflake_check import main

if __name__ == "__main__":
    sys.exit(main())
