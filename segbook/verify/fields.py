"""Typed, confined access to what a receipt says: every malformed field is InvalidInput (65).

A receipt is input like any other: keys may be missing, types wrong, paths hostile. Paths in
`files.*` must stay inside the run folder -- not absolute, no `..`, and not resolving outside
it through a symbolic link -- or verify refuses the receipt before it opens anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from segbook.core.errors import InvalidInput

# case ids, dataset and task names become file names: no separators, no `..`
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_TYPE_NAMES: dict[type, str] = {dict: "an object", str: "a string", list: "a list"}
ESCAPE_HINT = "verify reads only files inside the run folder; the receipt was edited or is not a segbook receipt"


def _describe(value) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def field(receipt: dict, dotted: str, kind: type | tuple[type, ...], where: Path):
    """receipt["a"]["b"] for "a.b", checked to be of `kind`."""
    value = receipt
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InvalidInput(f"receipt {where} has no {dotted}", hint="is it a complete segbook receipt?")
        value = value[part]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise InvalidInput(f"receipt {where}: {dotted} must be {wanted}, not {_describe(value)}",
                           hint="the receipt was edited or is damaged")
    return value


def name_map(receipt: dict, dotted: str, where: Path) -> dict[str, str]:
    """A {case id: hash} object: safe case ids, string values."""
    value = field(receipt, dotted, dict, where)
    for key, item in value.items():
        safe_name(key, f"{dotted} key", where)
        if not isinstance(item, str):
            raise InvalidInput(f"receipt {where}: {dotted}.{key} must be a string, not {_describe(item)}",
                               hint="the receipt was edited or is damaged")
    return value


def safe_name(value, what: str, where: Path) -> str:
    if not isinstance(value, str) or not SAFE_NAME.match(value):
        raise InvalidInput(f"receipt {where}: {what} {value!r} is not a plain name",
                           hint="names in a receipt may hold letters, digits, '.', '_' and '-' only")
    return value


def confined(base: Path, relative, what: str, where: Path) -> Path:
    """base/relative, refused (InvalidInput) unless it stays inside `base` after resolving links."""
    if not isinstance(relative, str) or not relative.strip():
        raise InvalidInput(f"receipt {where}: {what} must be a relative path, not {relative!r}",
                           hint="the receipt was edited or is damaged")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or os.path.isabs(relative) or relative.startswith("\\"):
        raise InvalidInput(f"receipt {where}: {what} = {relative!r} is an absolute path", hint=ESCAPE_HINT)
    if ".." in pure.parts:
        raise InvalidInput(f"receipt {where}: {what} = {relative!r} leaves the run folder ('..')", hint=ESCAPE_HINT)
    candidate = base / relative
    try:
        inside = candidate.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        inside = False
    if not inside:
        raise InvalidInput(f"receipt {where}: {what} = {relative!r} resolves outside {base} "
                           "through a symbolic link", hint=ESCAPE_HINT)
    return candidate
