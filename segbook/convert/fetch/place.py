"""Put verified downloads into the raw folder: archives unpacked with the kit's rules, other files moved.

segbook.convert.archive.unpack checks every member before writing and unpacks into a hidden sibling
that is renamed when complete; its top-level entries are then renamed into the raw folder (folders of
the same name from two archives are merged), so the raw folder never holds a half-unpacked archive.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from segbook.convert.archive import is_archive, unpack
from segbook.convert.layouts import visible
from segbook.core.errors import OutputBlocked


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def move_into(source: Path, dest: Path, force: bool) -> None:
    """Rename `source` to `dest`; two folders merge, anything else already there needs --force."""
    if dest.is_dir() and source.is_dir() and not dest.is_symlink():
        for child in sorted(source.iterdir()):
            move_into(child, dest / child.name, force)
        source.rmdir()
        return
    if dest.exists() or dest.is_symlink():
        if not force:
            raise OutputBlocked(f"{dest} is already there and is not from this download",
                                hint="pass --force to replace it, or choose another --out")
        _remove(dest)
    source.rename(dest)


def place(names: list[str], work: Path, raw_dir: Path, *, force: bool, progress) -> list[str]:
    """Unpack or move each downloaded file of `work` into `raw_dir`; the top-level names placed."""
    placed: list[str] = []
    for name in names:
        download = work / name
        if is_archive(download):
            progress(f"fetch: unpacking {name}")
            unpacked = unpack(download, work / "unpacked" / name, force=True)
            entries = visible(unpacked)  # the unpack stamp and macOS forks stay behind
            for entry in entries:
                move_into(entry, raw_dir / entry.name, force)
            placed += [e.name for e in entries]
            shutil.rmtree(unpacked)
            download.unlink()  # its checksum is in the fetch stamp; the unpacked files are what prepare reads
        else:
            move_into(download, raw_dir / name, force)
            placed.append(name)
    return sorted(set(placed))
