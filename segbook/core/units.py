"""Sizes written for people ('117 MB', '2 TB') -> bytes; decimal units, as downloads state them."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*([0-9.]+)\s*(B|KB|MB|GB|TB)\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_size(text: str) -> int:
    """'117 MB' -> 117000000 (decimal units); ValueError for anything else."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])
