"""Write-then-rename helpers: a crash never leaves a half-written result under its final name."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from segbook.core.errors import OutputBlocked


def ensure_writable_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".segbook-probe-", delete=True)
        probe.close()
    except OSError as exc:
        raise OutputBlocked(f"output folder {path} is not writable ({exc.strerror or exc})",
                            hint="choose another --out or fix the folder's permissions") from exc
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def usual_mode(path: Path, *, directory: bool) -> None:
    """mkstemp/mkdtemp create private (0600/0700) entries; give results the usual umask modes,
    so a container running as another uid, or a shared HPC folder, can read them."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def atomic_write_with(path: Path, write) -> Path:
    """Call write(binary_handle) on a temporary sibling, fsync, then rename onto `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        usual_mode(Path(tmp), directory=False)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write_with(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj) -> Path:
    # allow_nan=False: NaN/Infinity are not JSON; other tools would choke on them
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def staging_directory(final: Path) -> Path:
    """A new temporary sibling of `final` (hidden, `.partial`) to build `final` in.
    install_directory puts it in place; a prepare that left one behind removes it next time."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    try:
        usual_mode(tmp, directory=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def install_directory(tmp: Path, final: Path) -> None:
    """Rename a complete `tmp` to `final`, replacing what was there (moved aside first, so
    `final` is at every moment the old version or the new one, never a mix)."""
    if final.exists():
        trash = final.with_name(f".{final.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        final.rename(trash)
        tmp.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(final)


@contextmanager
def atomic_directory(final: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it is renamed to `final`.

    On failure the temporary folder is removed, so `final` is either absent, the old
    version, or the complete new one.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not replace:
        raise OutputBlocked(f"{final} already exists", hint="pass --force to replace it")
    tmp = staging_directory(final)
    try:
        yield tmp
        install_directory(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
