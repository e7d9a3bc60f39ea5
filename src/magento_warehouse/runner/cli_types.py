"""argparse value types shared by the project's command-line programs."""

from __future__ import annotations

import argparse
from typing import Callable


def _bounded(kind: type, minimum: float, inclusive: bool, wording: str) -> Callable[[str], float]:
    def parse(text: str):
        value = kind(text)
        if value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {wording}, got {text}")
        return value
    return parse


positive_float = _bounded(float, 0, False, "positive")
non_negative_float = _bounded(float, 0, True, "0 or more")
positive_int = _bounded(int, 1, True, "at least 1")
non_negative_int = _bounded(int, 0, True, "0 or more")
