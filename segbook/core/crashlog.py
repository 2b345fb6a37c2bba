"""Where an internal error's traceback goes, and writing it there safely.

Commands say where their output lives as soon as they know it (`use_output_root`, then
`use_run_dir` once the run folder is known); the error layer (segbook.cli.errors) asks
`write_crash_log`. The log goes to the run's `logs/`, else `OUT/logs/`, else -- when no output
root is known yet -- a private per-user folder `$TMPDIR/segbook-<uid>/` (mode 0700, owned by
this user, not a link). Never a fixed, shared name: every log is a new file with a unique name,
created with O_EXCL | O_NOFOLLOW, mode 0600, inside a folder opened with O_NOFOLLOW, so a
planted symlink can neither redirect nor extend someone else's file.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from contextvars import ContextVar
from pathlib import Path

LOG_DIR = "logs"
_output_root: ContextVar[Path | None] = ContextVar("segbook_output_root", default=None)
_run_dir: ContextVar[Path | None] = ContextVar("segbook_run_dir", default=None)
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def use_output_root(path: Path | str | None) -> None:
    """Called by a command once it knows its output root."""
    _output_root.set(Path(path) if path is not None else None)


def use_run_dir(path: Path | str | None) -> None:
    """Called once the run folder is known: its logs/ then receives the crash log."""
    _run_dir.set(Path(path) if path is not None else None)


def output_root() -> Path | None:
    return _output_root.get()


def is_output_path(filename) -> bool:
    """Does `filename` lie under the output root (or run folder) a command declared?"""
    if filename is None:
        return False
    target = os.path.abspath(os.fsdecode(filename))
    for base in (_run_dir.get(), _output_root.get()):
        if base is not None:
            root = os.path.abspath(base)
            if target == root or target.startswith(root + os.sep):
                return True
    return False


def _candidate_dirs() -> list[Path]:
    dirs = []
    run_dir, out_root = _run_dir.get(), _output_root.get()
    if run_dir is not None:
        dirs.append(run_dir / LOG_DIR)
    if out_root is not None:
        dirs.append(out_root / LOG_DIR)
    return dirs


def _private_dir() -> Path | None:
    """$TMPDIR/segbook-<uid>: created 0700, or used only if it is ours, private and not a link."""
    folder = Path(tempfile.gettempdir()) / f"segbook-{os.getuid()}"
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        info = os.lstat(folder)
    except OSError:
        return None
    import stat  # noqa: PLC0415

    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None  # someone else's, a link, or readable by others: do not write there
    return folder


def _write_in(folder: Path, name: str, text: str) -> Path | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        dir_fd = os.open(folder, _DIR_FLAGS)
    except OSError:
        return None
    try:
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=dir_fd)
    except OSError:
        os.close(dir_fd)
        return None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass
        return None
    finally:
        os.close(dir_fd)
    return folder / name


def write_crash_log(text: str) -> Path | None:
    """Write `text` to a new crash log; its path, or None when no safe place took it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"crash-{stamp}-{os.getpid()}-{secrets.token_hex(4)}.log"
    for folder in _candidate_dirs():
        written = _write_in(folder, name, text)
        if written is not None:
            return written
    private = _private_dir()
    return _write_in(private, name, text) if private is not None else None
