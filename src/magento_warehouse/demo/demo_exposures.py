"""scripts/hightouch_exposures.py against the local Hightouch stand-in serving the demo's
workspace (hightouch_workspace.yml), e.g. to regenerate the committed exposures file
after changing that workspace:

    python -m magento_warehouse.demo.demo_exposures
    python -m magento_warehouse.demo.demo_exposures --check --orchestrator runner
"""

from __future__ import annotations

import os
import sys

from magento_warehouse.demo.hightouch_stub import HightouchStub
from magento_warehouse.hightouch_workspace import cli


def main(argv: list[str] | None = None) -> int:
    with HightouchStub() as stub:
        os.environ.update(HIGHTOUCH_API_URL=stub.url, HIGHTOUCH_API_KEY="local-stand-in")
        return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
