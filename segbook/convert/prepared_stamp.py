"""The prepared dataset's stamp, and the one question it answers: is what is on disk still it?

The stamp (segbook_prepared.json) holds the content hash of every case and channel. Whether a
prepared folder is intact is decided by CONTENT: a fingerprint of paths, sizes and modification
times is only a fast path -- when it matches nothing was touched; when it does not (an output
root copied with `cp -r`, moved between scratch and project storage, restored from a backup),
every file is hashed again and compared with the stamp. Never refused for a new path or a new
mtime. Deciding never writes (`prepared_intact` is a pure check); after a match by content the
doing side refreshes the fingerprint explicitly (`refresh_fingerprint`), so the next check is fast.
"""

from __future__ import annotations

import json
from pathlib import Path

from segbook.core.errors import SegbookError
from segbook.core.fsio import atomic_write_json
from segbook.core.hashing import sha256_json
from segbook.core.layout import CASE_FILE_ENDING
from segbook.core.stamps import read_stamp

STAMP = "segbook_prepared.json"
STAMP_FORMAT = "segbook-prepared/1"
LABEL_KEY = "label"


def files_fingerprint(paths, root: Path) -> str:
    """Paths, sizes and mtimes: a cheap 'nothing changed' signal, never a reason to refuse."""
    rows = []
    for path in sorted(paths):
        stat = path.stat()
        rows.append([path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns])
    return sha256_json(rows)


def _output_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name != STAMP]


def output_fingerprint(folder: Path) -> str:
    return files_fingerprint(_output_files(folder), folder)


def load_stamp(final: Path) -> dict | None:
    stamp = read_stamp(final / STAMP)
    return stamp if stamp is not None and isinstance(stamp.get("case_hashes"), dict) else None


def write_stamp(folder: Path, body: dict) -> None:
    """Write the stamp with the folder's current fingerprint."""
    atomic_write_json(folder / STAMP, {"format": STAMP_FORMAT, **body, "output": output_fingerprint(folder)})


def case_file(folder: Path, case: str, key: str, test_cases: set[str]) -> Path:
    side = "Ts" if case in test_cases else "Tr"
    if key == LABEL_KEY:
        return folder / f"labels{side}" / f"{case}{CASE_FILE_ENDING}"
    return folder / f"images{side}" / f"{case}_{key}{CASE_FILE_ENDING}"


def _same_content(folder: Path, stamp: dict, test_cases: set[str], metadata: dict[str, object]) -> bool:
    """Every stamped image hashes as stamped, the metadata files hold what they must, nothing else."""
    from segbook.catalog.content import file_hashes  # noqa: PLC0415 - SimpleITK only when needed

    expected = {folder / name for name in metadata}
    for case, channels in stamp["case_hashes"].items():
        if not isinstance(channels, dict):
            return False
        for key, recorded in channels.items():
            path = case_file(folder, case, key, test_cases)
            expected.add(path)
            try:
                if file_hashes(path).content != recorded:
                    return False
            except SegbookError:
                return False
    if set(_output_files(folder)) != expected:
        return False
    for name, content in metadata.items():
        try:
            if json.loads((folder / name).read_text(encoding="utf-8")) != content:
                return False
        except (OSError, ValueError):
            return False
    return True


def prepared_intact(final: Path, stamp: dict, test_cases: set[str], metadata: dict[str, object],
                    progress=None) -> bool:
    """Is `final` exactly what `stamp` describes? Fast by fingerprint, else by content. Reads only:
    a decision that wrote could change the folder it is deciding about."""
    if stamp.get("output") == output_fingerprint(final):
        return True
    if progress:
        progress(f"prepare: {final.name} was copied or touched since it was stamped: checking its content")
    return _same_content(final, stamp, test_cases, metadata)


def refresh_fingerprint(final: Path, stamp: dict) -> dict:
    """The doing side, once `final` was found intact: record its current fingerprint if the stamp's
    is stale (a copied or touched folder), so the next check is fast again. Returns the stamp."""
    if stamp.get("output") == output_fingerprint(final):
        return stamp
    write_stamp(final, {k: v for k, v in stamp.items() if k not in ("format", "output")})
    return load_stamp(final) or stamp
