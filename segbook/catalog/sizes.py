"""Dataset size classes, defined once: `datasets list --size` and the report use the same cut-offs.

The paper groups datasets into small / medium / large without publishing cut-offs; these are the
kit's own, chosen so that each class holds a sizeable share of the 87 datasets. A dataset's size
is its labelled case count (see `DatasetManifest.n_cases`).
"""

from __future__ import annotations

SMALL_MAX_CASES = 99  # small: fewer than 100 labelled cases
MEDIUM_MAX_CASES = 399  # medium: 100-399; large: 400 or more
SIZE_CLASSES = ("small", "medium", "large")


def size_class(n_cases: int) -> str:
    """'small' (< 100 cases), 'medium' (100-399) or 'large' (>= 400)."""
    if n_cases is None or n_cases < 0:
        raise ValueError(f"not a case count: {n_cases!r}")
    if n_cases <= SMALL_MAX_CASES:
        return "small"
    if n_cases <= MEDIUM_MAX_CASES:
        return "medium"
    return "large"
