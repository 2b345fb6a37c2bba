"""Reading JSON the kit did not write in this process: bounded in size and depth, never a crash.

Receipts, dataset.json files, grid state and run state are input like any download: a file may be
huge, nested a hundred thousand levels deep (Python's parser then raises RecursionError, which
used to surface as exit 70), or not JSON at all. Every such read goes through `read_json`, which
answers with InvalidInput (65) naming the file, so each caller words only its own hint.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from segbook.core.errors import InvalidInput

MAX_JSON_BYTES = 256 * 1024 * 1024  # a receipt of 3,000 test cases is a few MB; far more is not ours
MAX_DEPTH = 64  # the deepest file the kit writes nests about 8 levels


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = str.maketrans({chr(c): None for c in range(128) if chr(c) not in "[]{}"})


def text_depth(text: str) -> int:
    """Nesting depth of a *valid* JSON text (each object or array one level) from its brackets outside strings.

    The same answer as walking the parsed value (tests/security/test_untrusted_json.py checks it), in
    C-speed steps (split, translate, cumsum): a grid report reads thousands of receipts, and the walk
    cost as much as parsing them. Without an escaped quote, every other piece between quotes is a
    string; with one, a regex removes the strings. Outside its strings valid JSON is ASCII, which is
    all the table has to delete.
    """
    outside = "".join(text.split('"')[::2]) if '\\"' not in text else _JSON_STRING.sub("", text)
    skeleton = outside.translate(_BRACKETS)
    if not skeleton:
        return 0
    codes = np.frombuffer(skeleton.encode("ascii"), dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def parse_json(text: str, where: str, *, max_depth: int = MAX_DEPTH, hint: str | None = None):
    """json.loads that turns every way a text fails into InvalidInput naming `where`."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise InvalidInput(f"{where} is nested too deeply to be a file of the kit's", hint=hint) from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{where} is not valid JSON ({exc})"[:300], hint=hint) from None
    if text_depth(text) > max_depth:
        raise InvalidInput(f"{where} nests deeper than {max_depth} levels", hint=hint)
    return data


def read_json(path: Path, *, what: str = "", max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH,
              hint: str | None = None):
    """The parsed content of a JSON file of unknown origin (OSError passes through: missing is the caller's)."""
    path = Path(path)
    where = f"{what} {path}".strip()
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidInput(f"{where} is {size:,} bytes, more than the {max_bytes:,} a file of the kit's may hold",
                           hint=hint)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where} is not UTF-8 text ({exc.reason})", hint=hint) from None
    return parse_json(text, where, max_depth=max_depth, hint=hint)
