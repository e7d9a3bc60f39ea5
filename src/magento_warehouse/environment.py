"""Environment variables set for a while: dbt in-process and the runner read their
settings from the environment, and a caller running them more than once (the demo, the
benchmarks, the emulator) must leave the process as it found it."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Mapping


@contextmanager
def temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Sets `values` in os.environ, and on exit restores each one's previous value (or its absence)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
