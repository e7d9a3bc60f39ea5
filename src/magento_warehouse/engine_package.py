"""The streamkap_cdc dbt package (packages/streamkap_cdc) in a copy of the project.

`dbt deps` installs a local package as a link, dbt_packages/streamkap_cdc -> the
package folder; copies made by tests and benchmarks get the same link, so they run
the package as it is in the working tree, without a `dbt deps` each.
"""

from __future__ import annotations

from pathlib import Path

from magento_warehouse.paths import project_dir

NAME = "streamkap_cdc"


def link_engine_package(project: Path) -> Path:
    """Links `project`/dbt_packages/streamkap_cdc to the copy's packages/ folder, else the project's."""
    installed = project / "dbt_packages" / NAME
    if installed.is_symlink() or installed.exists():
        return installed
    own = project / "packages" / NAME
    installed.parent.mkdir(parents=True, exist_ok=True)
    installed.symlink_to((own if own.is_dir() else project_dir() / "packages" / NAME).resolve(),
                         target_is_directory=True)
    return installed
