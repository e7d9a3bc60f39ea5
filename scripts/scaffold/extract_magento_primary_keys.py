"""Magento's primary keys from its db_schema.xml files (magento_warehouse.scaffold)."""

import sys

from magento_warehouse.scaffold.extract_magento_primary_keys import main

if __name__ == "__main__":
    sys.exit(main())
