"""Write one file inside a folder, never through a symbolic link that leads out of it.

A lexical check (no `..`, not absolute) is not enough: `REPO/.github` may be a link to anywhere.
So the path is resolved for real (every existing component, links followed) and must stay inside
the folder's own real path; then the folders are walked from a descriptor of that real folder with
O_NOFOLLOW (a link swapped in after the check is refused, not followed), and the file is written
as a new temporary (O_CREAT|O_EXCL|O_NOFOLLOW) renamed onto its name inside the verified folder:
whatever sits at the final name is replaced, never written through.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from segbook.core.errors import OutputBlocked, UsageProblem

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def resolved_inside(root: Path, relative: Path, *, option: str = "the path") -> Path:
    """root/relative resolved (links followed), as a path relative to root's real path.

    UsageProblem (exit 2) when it resolves outside root, or to root itself."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(real_root / relative))
    if real == real_root or not real.is_relative_to(real_root):
        raise UsageProblem(f"{option} {relative} resolves to {real}, outside the repository {real_root} "
                           "(a symbolic link leads out of it)",
                           hint="remove the link or choose another --path inside your repository")
    return real.relative_to(real_root)


def _open_folders(root_fd: int, parts: tuple[str, ...], shown: Path) -> int:
    """A descriptor of root/parts..., creating missing folders; a link on the way is refused."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise OutputBlocked(f"cannot write {shown}: {part} is a symbolic link or not a folder",
                                        hint="something changed the repository while writing; look at it "
                                             "and run again") from None
                raise
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def write_inside(root: Path, relative: Path, data: bytes, *, replace: bool, option: str = "the path") -> Path:
    """Write `data` at root/relative (see the module docstring); the real path written.

    Without `replace`, anything already at the name (a file, a link, dangling or not) is kept: 73."""
    inside = resolved_inside(root, relative, option=option)
    real_root = Path(os.path.realpath(root))
    shown = Path(root) / relative
    try:
        root_fd = os.open(real_root, _DIR_FLAGS)
    except OSError as exc:
        raise OutputBlocked(f"cannot open {real_root}: {exc.strerror or exc}") from exc
    try:
        folder = _open_folders(root_fd, inside.parts[:-1], shown)
    finally:
        os.close(root_fd)
    name = inside.name
    try:
        if not replace:
            try:
                os.stat(name, dir_fd=folder, follow_symlinks=False)
                raise OutputBlocked(f"{shown} already exists", hint="pass --force to replace it")
            except FileNotFoundError:
                pass
        temporary = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temporary, _NEW_FILE_FLAGS, 0o666, dir_fd=folder)  # the umask applies: usual modes
        try:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)  # replaces a link, never follows
        except BaseException:
            try:
                os.unlink(temporary, dir_fd=folder)
            except OSError:
                pass
            raise
    finally:
        os.close(folder)
    return real_root / inside
