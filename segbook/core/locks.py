"""Mutual exclusion between processes that share an output root, on one host or many.

One mechanism for every "only one at a time" in the kit: one run per run folder, one prepare
and one plan per dataset. Two modes:

- ``flock`` (default): ``fcntl.flock`` on a file under ``OUT/.locks/``. The kernel releases the
  lock when the holder dies, however it dies (SIGKILL, OOM, node reboot on NFSv4). Safe on local
  disks and on shared filesystems whose clients forward flock to a lock manager: NFSv4 (Linux
  clients map flock onto NFS byte-range locks since 2.6.12), Lustre mounted with ``-o flock``,
  GPFS/Spectrum Scale, CephFS, BeeGFS with ``tuneUseGlobalFileLocks``. NOT safe on NFSv3 without
  lockd, Lustre with ``-o localflock``, or sshfs: there flock succeeds on every host at once.
- ``file``: an exclusively created lock file holding host, pid and a heartbeat the holder
  refreshes every ``HEARTBEAT_S``. A lock whose holder is on this host and dead, or whose
  heartbeat is older than ``stale_after_s`` (any host), is stale and taken over. Works on any
  filesystem with atomic O_EXCL create; used where ``SEGBOOK_LOCK_MODE=file`` says so, and
  automatically when the filesystem refuses flock (ENOLCK, EOPNOTSUPP).

Either way the lock file says who holds it (host, pid, start time, what), so a refusal can name
the holder.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import OutputBlocked
from segbook.core.pids import pid_alive
from segbook.core.timefmt import now_iso

LOCK_DIR = ".locks"  # under the output root
MODES = ("flock", "file")
HEARTBEAT_S = 30.0
DEFAULT_STALE_AFTER_S = 600.0
_POLL_S = 0.5
_MAX_HOLDER_BYTES = 4096  # a holder is one short JSON line; never read more of a planted file
_FLOCK_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str
    what: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}"

    @classmethod
    def me(cls, what: str) -> Holder:
        return cls(socket.gethostname(), os.getpid(), now_iso(), what)

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, encoding="utf-8") as handle:
                data = json.loads(handle.read(_MAX_HOLDER_BYTES))
            return cls(str(data["host"]), int(data["pid"]), str(data["started"]), str(data.get("what", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def as_json(self, heartbeat: float | None = None) -> str:
        body = {"host": self.host, "pid": self.pid, "started": self.started, "what": self.what}
        if heartbeat is not None:
            body["heartbeat"] = heartbeat
        return json.dumps(body, sort_keys=True) + "\n"


def describe_holder(holder: Holder | None, unknown: str = "holder unknown") -> str:
    """Who holds a lock, for a message (`unknown` when the lock file names nobody readable)."""
    return holder.describe() if holder else unknown


class LockBusy(OutputBlocked):
    """Someone else holds the lock and the caller chose not to wait."""

    def __init__(self, what: str, holder: Holder | None, hint: str):
        who = describe_holder(holder)
        super().__init__(f"another {what} is in progress ({who})", hint=hint)
        self.holder = holder


def lock_path(out_root: Path, name: str) -> Path:
    """OUT/.locks/<name>.lock; name is built by the caller from ids, never from user text."""
    return Path(out_root) / LOCK_DIR / f"{name}.lock"


@contextmanager
def exclusive(path: Path, *, what: str, wait: bool = True, mode: str = "flock",
              stale_after_s: float = DEFAULT_STALE_AFTER_S, busy_hint: str = "wait for it to finish",
              on_wait: Callable[[Holder | None], None] | None = None) -> Iterator[Holder]:
    """Hold the lock at `path` for the body. wait=False raises LockBusy (exit 73) at once."""
    if mode not in MODES:
        raise ValueError(f"lock mode {mode!r} is not one of {MODES}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.is_symlink():
        raise _not_a_lock(path.parent, "is a symbolic link")
    me = Holder.me(what)
    if mode == "flock":
        handle = _open_flock(path)
        if handle is not None:
            try:
                _acquire_flock(handle, path, what, wait, busy_hint, on_wait)
                _write_holder(handle, me)
                yield me
            finally:
                handle.close()  # closing releases the flock; the file stays (harmless, reused)
            return
    with _file_lock(path, me, what=what, wait=wait, stale_after_s=stale_after_s, busy_hint=busy_hint,
                    on_wait=on_wait):
        yield me


def _open_lock_file(path: Path):
    """The lock file opened read-write without following a symlink at its name, and only if it is
    a regular file: a link planted in a shared output root must never make the kit write its holder
    JSON into (or create) someone else's file."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _not_a_lock(path, "is a symbolic link") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_a_lock(path, "is not a regular file")
    return os.fdopen(fd, "r+", encoding="utf-8")


def _not_a_lock(path: Path, why: str) -> OutputBlocked:
    return OutputBlocked(f"refusing to use lock path {path}: it {why}",
                         hint="remove it (the kit creates its own lock files) and check who planted it")


def _open_flock(path: Path):
    handle = _open_lock_file(path)  # kept open for the lock's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError as exc:
        if exc.errno in _FLOCK_UNSUPPORTED:
            handle.close()
            return None  # this filesystem has no working flock: fall back to the lock-file mode
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            handle.close()
            raise
    return handle


def _acquire_flock(handle, path: Path, what: str, wait: bool, busy_hint: str, on_wait) -> None:
    announced = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
        holder = Holder.read(path)
        if not wait:
            handle.close()
            raise LockBusy(what, holder, busy_hint)
        if not announced and on_wait is not None:
            on_wait(holder)
            announced = True
        time.sleep(_POLL_S)


def _write_holder(handle, me: Holder) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(me.as_json())
    handle.flush()


@contextmanager
def _file_lock(path: Path, me: Holder, *, what: str, wait: bool, stale_after_s: float, busy_hint: str,
               on_wait) -> Iterator[None]:
    announced = False
    while not _try_create(path, me):
        if path.is_symlink():  # never ours (we create with O_EXCL|O_NOFOLLOW): planted
            raise _not_a_lock(path, "is a symbolic link")
        holder = Holder.read(path)
        if _is_stale(path, holder, stale_after_s):
            _break_stale(path, holder)
            continue
        if not wait:
            raise LockBusy(what, holder, busy_hint)
        if not announced and on_wait is not None:
            on_wait(holder)
            announced = True
        time.sleep(_POLL_S)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, me, stop), daemon=True, name="segbook-lock-heartbeat")
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=5)
        if Holder.read(path) == me:
            path.unlink(missing_ok=True)


def _try_create(path: Path, me: Holder) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(me.as_json(heartbeat=time.time()))
    return True


def _heartbeat(path: Path, me: Holder, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            os.utime(path)  # the mtime is the heartbeat: no rewrite, no window without content
        except OSError:
            return


def _is_stale(path: Path, holder: Holder | None, stale_after_s: float) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    if holder is not None and holder.host == socket.gethostname() and not pid_alive(holder.pid):
        return True
    return age > stale_after_s


def _break_stale(path: Path, seen: Holder | None) -> None:
    """Move the stale file aside; if what moved is not what was judged stale (another process
    broke it and took the lock in between), put it back: link() fails if the name is taken."""
    grave = path.with_name(f"{path.name}.stale-{socket.gethostname()}-{os.getpid()}")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return
    if Holder.read(grave) != seen:
        try:
            os.link(grave, path)
        except OSError:
            pass
    grave.unlink(missing_ok=True)


def held_by(path: Path, *, mode: str = "flock", stale_after_s: float = DEFAULT_STALE_AFTER_S) -> Holder | None:
    """Who holds the lock at `path` right now, or None when it is free (for status displays)."""
    if not path.exists():
        return None
    if mode == "flock":
        try:
            handle = _open_lock_file(path)
        except (OSError, OutputBlocked):
            return None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in _FLOCK_UNSUPPORTED:
                    return None
                return Holder.read(path) or Holder("?", 0, "?", "")
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
    holder = Holder.read(path)
    return None if _is_stale(path, holder, stale_after_s) else holder
