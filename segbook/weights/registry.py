"""The weights registry: manifests/weights.yaml, one entry per official STU-Net checkpoint.

No official checksums exist, so an entry starts unpinned (empty sha256/tensor_sha256) and
`segbook weights pin FILE` records the first verified copy: file sha256, tensor hash, exact size,
who and when. Loading and saving only; checking files is segbook.weights.checks.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from segbook.catalog.loader import ManifestsDir, find_manifests_dir
from segbook.core.errors import InputMissing, InvalidInput, UsageProblem
from segbook.core.fsio import atomic_write_text
from segbook.core.units import parse_size

SCHEMA = "segbook-weights/1"
REGISTRY_FILE = "weights.yaml"
SCALES = ("S", "B", "L", "H")
_SCALE_ALIASES = {"s": "S", "small": "S", "b": "B", "base": "B", "l": "L", "large": "L", "h": "H",
                  "huge": "H"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# published sizes are rounded and do not say whether MB means 10^6 or 2^20 bytes
PUBLISHED_SIZE_TOLERANCE = 0.10


def plain_file_name(name: str, where: str) -> str:
    """A checkpoint's file name: fetch writes `--dest/<name>`, so no folders, no `..`, no hidden file."""
    if not isinstance(name, str) or name in ("", ".", "..") or name.startswith(".") \
            or any(sep in name for sep in ("/", "\\", "\0")):
        raise InvalidInput(f"{where}: file {name!r} is not a plain file name",
                           hint="the registry's `file` must be a name like small_ep4k.model, without folders")
    return name


def normalise_scale(scale: str) -> str:
    """'S', 's', 'small', 'stunet-s' -> 'S'."""
    key = str(scale).strip().lower().removeprefix("stunet-").removeprefix("stu-net-")
    if key not in _SCALE_ALIASES:
        raise UsageProblem(f"unknown STU-Net scale {scale!r}", hint="use one of S, B, L, H")
    return _SCALE_ALIASES[key]


@dataclass(frozen=True)
class WeightsEntry:
    scale: str
    file: str
    url: str
    published_size: str  # as the source states it, e.g. "117 MB"
    size_bytes: int | None = None  # exact, recorded when pinned
    sha256: str = ""
    tensor_sha256: str = ""
    pinned_by: str = ""
    pinned_at: str = ""
    description: str = ""

    @property
    def pinned(self) -> bool:
        return bool(self.sha256 and self.tensor_sha256)

    @property
    def published_bytes(self) -> int:
        return parse_size(self.published_size)

    @property
    def max_download_bytes(self) -> int:
        """The most a download of this checkpoint may bring: its exact size once pinned, else the
        published size plus the tolerance (a server sending more is refused, not stored)."""
        if self.size_bytes is not None:
            return self.size_bytes
        return int(self.published_bytes * (1 + PUBLISHED_SIZE_TOLERANCE))

    def size_plausible(self, size: int) -> bool:
        """Exact size once pinned; before that, within the tolerance of the published size."""
        if self.size_bytes is not None:
            return size == self.size_bytes
        expected = self.published_bytes
        return abs(size - expected) <= PUBLISHED_SIZE_TOLERANCE * expected

    def as_dict(self) -> dict:
        return asdict(self)


def _entry_from(raw: dict, path: Path, index: int) -> WeightsEntry:
    where = f"{path} entry {index + 1}"
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} is not a mapping", hint="see docs/weights.md for the format")
    known = {f.name for f in fields(WeightsEntry)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidInput(f"{where} has unknown keys: {', '.join(unknown)}", hint="see docs/weights.md")
    missing = [key for key in ("scale", "file", "url", "published_size") if not raw.get(key)]
    if missing:
        raise InvalidInput(f"{where} lacks {', '.join(missing)}", hint="see docs/weights.md")
    values: dict[str, Any] = {key: ("" if raw.get(key) is None else raw[key]) for key in known if key in raw}
    values["scale"] = normalise_scale(values["scale"])
    values["file"] = plain_file_name(values["file"], where)
    values["size_bytes"] = raw.get("size_bytes")
    entry = WeightsEntry(**values)
    for name in ("sha256", "tensor_sha256"):
        value = getattr(entry, name)
        if value and not _SHA256.match(value):
            raise InvalidInput(f"{where}: {name} is not a sha256 hex digest", hint="re-pin the file")
    if bool(entry.sha256) != bool(entry.tensor_sha256):
        raise InvalidInput(f"{where}: only one of sha256/tensor_sha256 is set",
                           hint="pin with `segbook weights pin FILE`, which records both")
    try:
        entry.published_bytes  # noqa: B018 - validate the published size now, not at first use
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}", hint="write it like '117 MB' or '3.52 GB'") from exc
    if entry.size_bytes is not None and not isinstance(entry.size_bytes, int):
        raise InvalidInput(f"{where}: size_bytes must be an integer")
    return entry


@dataclass(frozen=True)
class WeightsRegistry:
    path: Path
    entries: tuple[WeightsEntry, ...]
    header: str = ""  # the file's leading comment block, kept when the file is rewritten

    def for_scale(self, scale: str) -> WeightsEntry:
        wanted = normalise_scale(scale)
        for entry in self.entries:
            if entry.scale == wanted:
                return entry
        raise InvalidInput(f"{self.path} has no entry for STU-Net-{wanted}", hint="see docs/weights.md")

    def for_file(self, file: Path, scale: str | None = None) -> WeightsEntry:
        """The entry a file belongs to: by --scale if given, else by its file name."""
        if scale is not None:
            return self.for_scale(scale)
        for entry in self.entries:
            if entry.file == Path(file).name:
                return entry
        names = ", ".join(e.file for e in self.entries)
        raise UsageProblem(f"{Path(file).name} is not a registered checkpoint name ({names})",
                           hint="pass --scale S|B|L|H to say which checkpoint it is")

    def with_entry(self, new: WeightsEntry) -> WeightsRegistry:
        return replace(self, entries=tuple(new if e.scale == new.scale else e for e in self.entries))

    def render(self) -> str:
        body = {"schema": SCHEMA, "weights": [e.as_dict() for e in self.entries]}
        return self.header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False, width=110)

    def save(self) -> Path:
        return atomic_write_text(self.path, self.render())


def default_registry_path(manifests_dir: ManifestsDir) -> Path:
    """manifests/weights.yaml next to the dataset manifests the catalog uses."""
    return find_manifests_dir(manifests_dir) / REGISTRY_FILE


def _leading_comments(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#") and line.strip():
            break
        lines.append(line)
    return "".join(lines)


def load_registry(path: Path | None = None, manifests_dir: ManifestsDir = None) -> WeightsRegistry:
    """`path`, else the registry beside the manifests (None: the kit's own; see segbook.catalog.loader)."""
    path = Path(path) if path is not None else default_registry_path(manifests_dir)
    if not path.is_file():
        raise InputMissing(f"weights registry {path} not found",
                           hint="set SEGBOOK_MANIFESTS to the kit's manifests/ folder, or pass --registry")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"weights registry {path} is not valid YAML ({str(exc).splitlines()[0]})",
                           hint="fix the file or restore it from the kit") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA \
            or not isinstance(data.get("weights"), list):
        raise InvalidInput(f"weights registry {path} is not a {SCHEMA} file",
                           hint="expected keys `schema` and `weights` (a list); see docs/weights.md")
    entries = tuple(_entry_from(raw, path, i) for i, raw in enumerate(data["weights"]))
    scales = [e.scale for e in entries]
    if len(set(scales)) != len(scales):
        raise InvalidInput(f"weights registry {path} lists a scale twice", hint="one entry per scale")
    return WeightsRegistry(path=path, entries=entries, header=_leading_comments(text))
