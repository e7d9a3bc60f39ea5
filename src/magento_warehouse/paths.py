"""Where the dbt project is: the package is installed, so it cannot find the project
from its own location."""

from __future__ import annotations

import os
from pathlib import Path


def project_dir() -> Path:
    """DBT_PROJECT_DIR (the Makefile exports it), else the nearest folder holding a
    dbt_project.yml at or above the current one, else the current folder."""
    if os.environ.get("DBT_PROJECT_DIR"):
        return Path(os.environ["DBT_PROJECT_DIR"]).resolve()
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if (folder / "dbt_project.yml").exists()), here)
