"""Unpack a raw download (.tar, .tar.gz, .tgz, .zip) without letting any member escape.

Every member is checked before anything is written: absolute paths, `..` components, links
and device files are refused (InvalidInput, exit 65). Extraction goes to a temporary sibling
folder that is renamed at the end, so an interrupted unpack leaves nothing under the final name.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from segbook.core.errors import InvalidInput
from segbook.core.fsio import atomic_directory, atomic_write_json
from segbook.core.hashing import sha256_json

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
STAMP = ".segbook-unpacked.json"


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _safe_name(name: str, archive: Path) -> PurePosixPath:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and pure.parts[0].endswith(":")):
        raise InvalidInput(f"{archive.name}: member {name!r} would extract outside the target folder",
                           hint="the archive is malformed or malicious; it was not unpacked")
    return pure


def _check_tar(archive: Path, tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        _safe_name(member.name, archive)
        if not (member.isfile() or member.isdir()):
            kind = "link" if (member.issym() or member.islnk()) else "special file"
            raise InvalidInput(f"{archive.name}: member {member.name!r} is a {kind}; refusing to unpack",
                               hint="only plain files and folders are unpacked")
    return members


def _extract_tar(archive: Path, target: Path) -> None:
    with tarfile.open(archive) as tar:
        for member in _check_tar(archive, tar):
            dest = target / _safe_name(member.name, archive)
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            with source, open(dest, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)


def _extract_zip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _safe_name(info.filename, archive)
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise InvalidInput(f"{archive.name}: member {info.filename!r} is a link; refusing to unpack")
        for info in infos:
            dest = target / _safe_name(info.filename, archive)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source, open(dest, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)


def _fingerprint(archive: Path) -> str:
    stat = archive.stat()
    return sha256_json({"name": archive.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})


def unpack(archive: Path, target: Path, *, force: bool = False) -> Path:
    """Unpack `archive` into `target` (reused when it already holds this archive's contents)."""
    stamp = target / STAMP
    try:
        done = json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint") == _fingerprint(archive)
    except (OSError, ValueError, AttributeError):
        done = False
    if done:
        return target
    try:
        with atomic_directory(target, replace=force or target.exists() and stamp.is_file()) as tmp:
            if archive.name.lower().endswith(".zip"):
                _extract_zip(archive, tmp)
            else:
                _extract_tar(archive, tmp)
            atomic_write_json(tmp / STAMP, {"archive": archive.name, "fingerprint": _fingerprint(archive)})
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInput(f"{archive.name} cannot be unpacked ({exc})",
                           hint="the download is damaged or incomplete; download it again") from exc
    return target
