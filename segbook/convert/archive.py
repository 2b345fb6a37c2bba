"""Unpack a raw download (.tar, .tar.gz, .tgz, .zip) without letting any member escape or explode.

Every member is checked before anything is written (InvalidInput, exit 65): absolute paths,
`..` components, links and device files, a member that names the target folder itself (`.` as
a file), two members with the same name, and a name used both as a file and as a folder. The
sizes the archive declares must stay within ArchiveLimits (total bytes, member count) -- a tar
bomb is refused before one byte is written -- and must fit the target disk (else OutputBlocked,
73); while copying, no member may yield more than it declared. Extraction goes to a temporary
sibling folder renamed at the end, so an interrupted unpack leaves nothing under the final name.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from segbook.core.errors import InvalidInput, OutputBlocked
from segbook.core.fsio import atomic_directory
from segbook.core.hashing import sha256_json
from segbook.core.stamps import REDO, REUSE, decide, read_stamp, write_stamp

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
STAMP = ".segbook-unpacked.json"
_BLOCK = 1 << 20
_REFUSED_HINT = "the archive is malformed or malicious; it was not unpacked"


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may unpack to. The defaults sit above the largest SegBook download
    (a few hundred GB, tens of thousands of files); `segbook prepare --max-unpacked-size /
    --max-members` change them."""

    max_total_bytes: int = 2 * 10**12  # 2 TB
    max_members: int = 1_000_000
    keep_free_bytes: int = 10**9  # left free on the target disk after unpacking


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _safe_name(name: str, archive: Path) -> PurePosixPath:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and pure.parts[0].endswith(":")):
        raise InvalidInput(f"{archive.name}: member {name!r} would extract outside the target folder",
                           hint=_REFUSED_HINT)
    return pure


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int
    handle: object  # TarInfo or ZipInfo


def _plan(members: list[_Member], archive: Path, limits: ArchiveLimits) -> list[tuple[PurePosixPath, _Member]]:
    """Check every member's name, the names' consistency and the declared sizes; nothing written."""
    if len(members) > limits.max_members:
        raise InvalidInput(f"{archive.name} holds {len(members)} members, more than the limit of "
                           f"{limits.max_members}", hint="raise --max-members if this archive is genuine")
    files: set[PurePosixPath] = set()
    dirs: set[PurePosixPath] = set()
    plan, total = [], 0
    for member in members:
        pure = _safe_name(member.name, archive)
        if not pure.parts:  # "." or "./": the target folder itself
            if member.is_dir:
                continue
            raise InvalidInput(f"{archive.name}: member {member.name!r} is a file named like the target folder",
                               hint=_REFUSED_HINT)
        parents = {PurePosixPath(*pure.parts[:i]) for i in range(1, len(pure.parts))}
        clash = (parents & files) or (pure in files) or (not member.is_dir and pure in dirs)
        if clash:
            raise InvalidInput(f"{archive.name}: member {member.name!r} clashes with another member "
                               "(the same name twice, or a name used as a file and as a folder)", hint=_REFUSED_HINT)
        (dirs if member.is_dir else files).add(pure)
        dirs |= parents
        total += max(member.size, 0)
        if total > limits.max_total_bytes:
            raise InvalidInput(f"{archive.name} would unpack to more than {limits.max_total_bytes:,} bytes",
                               hint="raise --max-unpacked-size if this archive is genuine; else it is a bomb")
        plan.append((pure, member))
    return plan


def _check_room(target: Path, plan, limits: ArchiveLimits, archive: Path) -> None:
    total = sum(member.size for _, member in plan)
    free = shutil.disk_usage(target).free
    if total > free - limits.keep_free_bytes:
        raise OutputBlocked(f"{archive.name} unpacks to {total:,} bytes; {target} has {free:,} bytes free",
                            hint="free some space, or unpack it by hand and pass the folder as --raw")


def _copy(source, dest: Path, member: _Member, archive: Path) -> None:
    written = 0
    with source, open(dest, "wb") as out:
        while block := source.read(_BLOCK):
            written += len(block)
            if written > member.size:
                raise InvalidInput(f"{archive.name}: member {member.name!r} holds more than the "
                                   f"{member.size:,} bytes it declares", hint=_REFUSED_HINT)
            out.write(block)


def _tar_members(archive: Path, tar: tarfile.TarFile) -> list[_Member]:
    members = []
    for info in tar.getmembers():
        _safe_name(info.name, archive)
        if not (info.isfile() or info.isdir()):
            kind = "link" if (info.issym() or info.islnk()) else "special file"
            raise InvalidInput(f"{archive.name}: member {info.name!r} is a {kind}; refusing to unpack",
                               hint="only plain files and folders are unpacked")
        members.append(_Member(info.name, info.isdir(), 0 if info.isdir() else info.size, info))
    return members


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[_Member]:
    members = []
    for info in zf.infolist():
        _safe_name(info.filename, archive)
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise InvalidInput(f"{archive.name}: member {info.filename!r} is a link; refusing to unpack")
        members.append(_Member(info.filename, info.is_dir(), 0 if info.is_dir() else info.file_size, info))
    return members


def _extract(archive: Path, target: Path, limits: ArchiveLimits) -> None:
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            _write_members(archive, target, _plan(_zip_members(archive, zf), archive, limits), limits,
                           lambda member: zf.open(member.handle))
    else:
        with tarfile.open(archive) as tar:
            _write_members(archive, target, _plan(_tar_members(archive, tar), archive, limits), limits,
                           lambda member: tar.extractfile(member.handle))


def _write_members(archive: Path, target: Path, plan, limits: ArchiveLimits, open_member) -> None:
    _check_room(target, plan, limits, archive)
    for pure, member in plan:
        dest = target / pure
        if member.is_dir:
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        _copy(open_member(member), dest, member, archive)


def _fingerprint(archive: Path) -> str:
    stat = archive.stat()
    return sha256_json({"name": archive.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})


def unpack(archive: Path, target: Path, *, force: bool = False, limits: ArchiveLimits | None = None) -> Path:
    """Unpack `archive` into `target` (reused when it already holds this archive's contents)."""
    limits = limits or ArchiveLimits()
    stamp = target / STAMP
    wanted = {"archive": archive.name, "fingerprint": _fingerprint(archive)}
    decision = decide(read_stamp(stamp), wanted, output_present=target.is_dir(),
                      may_replace=force or stamp.is_file())  # a folder we did not unpack: only with --force
    if decision.action == REUSE:
        return target
    try:
        with atomic_directory(target, replace=decision.action == REDO and target.exists()) as tmp:
            _extract(archive, tmp, limits)
            write_stamp(tmp / STAMP, wanted)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInput(f"{archive.name} cannot be unpacked ({exc})",
                           hint="the download is damaged or incomplete; download it again") from exc
    return target
