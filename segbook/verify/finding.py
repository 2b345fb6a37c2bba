"""One checked value: what it is, what the receipt recorded, what was found."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HASH = re.compile(r"^[0-9a-f]{40,}$")
_LONGEST = 160


@dataclass(frozen=True)
class Finding:
    what: str
    recorded: object
    found: object

    @property
    def ok(self) -> bool:
        return self.recorded == self.found

    def describe(self) -> str:
        return f"{self.what}: recorded {_short(self.recorded)}, found {_short(self.found)}"


def _short(value) -> str:
    """Hashes to their first 16 digits; other values (reasons, numbers) nearly in full."""
    text = str(value)
    if _HASH.match(text):
        return text[:16] + "..."
    return text if len(text) <= _LONGEST else text[:_LONGEST - 3] + "..."
