"""The kit's one HTTP downloader (weights and datasets): resumable, bounded in time and size.

A download goes into a `.part` file and continues from its size with an HTTP Range request, so a
cut connection, a SIGTERM or a full disk costs only what was not yet written. No read may wait
longer than `stall_s` (the socket timeout) and the whole request must end within `deadline_s`
(core.watchdog shuts the socket of a server that trickles). Checksums and moving the file into
place are the caller's: this module only gets bytes.

Why not pooch.retrieve or urllib.request.urlretrieve: neither resumes a partial file, and neither
bounds a server that sends one byte every few seconds.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from segbook import __version__
from segbook.core.errors import EnvironmentProblem, InvalidInput, OutputBlocked
from segbook.core.progress import Progress
from segbook.core.watchdog import Watchdog, handlers

BLOCK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_TOTAL_ONLY = re.compile(r"bytes \*/(\d+)")
_DIGITS = re.compile(r"[0-9]{1,20}")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} GB"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min" if seconds >= 3600 else (
        f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s")


def with_mirror(url: str, mirror: str | None) -> str:
    """`url` with its scheme and host replaced by the mirror's (the mirror's own path, if any, goes first)."""
    if not mirror:
        return url
    base, parts = urlsplit(mirror), urlsplit(url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise InvalidInput(f"--mirror {mirror!r} is not an http(s) URL", hint="write it like https://mirror.example.org")
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}{rest}"


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _opener(url: str, watchdog: Watchdog):
    # a proxy from the environment must never see loopback traffic (tests, local mirrors)
    proxies = [urllib.request.ProxyHandler({})] if is_loopback(url) else []
    return urllib.request.build_opener(*proxies, *handlers(watchdog))


def _request(url: str, start: int, accept: str | None = None) -> urllib.request.Request:
    headers = {"User-Agent": f"segbook/{__version__}", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    if accept:
        headers["Accept"] = accept
    return urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) checked by the callers


class Reporter:
    """One progress line every few seconds and at the end (logs stay readable): bytes, share, rate, time left."""

    def __init__(self, name: str, progress: Progress, every_s: float = 2.0):
        self.name, self.progress, self.every_s = name, progress, every_s
        self.started = self.last = time.monotonic()

    def __call__(self, done: int, total: int | None, new_bytes: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.every_s:
            return
        self.last = now
        rate = new_bytes / max(now - self.started, 1e-6)
        share = f" ({100 * done / total:.0f}%)" if total else ""
        of = f"/{human(total)}" if total else ""
        left = f", about {_duration((total - done) / rate)} left" if total and rate > 0 and done < total else ""
        self.progress(f"fetch {self.name}: {human(done)}{of}{share} at {human(rate)}/s{left}")


def _check_scheme(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise InvalidInput(f"refusing to fetch {url}: only http(s) URLs", hint="fix the URL (or the --mirror)")


def _too_big(url: str, size: int, max_bytes: int) -> InvalidInput:
    return InvalidInput(f"download of {url} is larger than its limit ({size:,} > {max_bytes:,} bytes)",
                        hint="the server sends something else than expected; check the URL (or raise the "
                             "size limit for a mirror you trust)")


def _too_slow(url: str, seconds: float, done: int) -> EnvironmentProblem:
    return EnvironmentProblem(f"download of {url} took longer than its deadline ({seconds:g} s; "
                              f"{human(done)} arrived)",
                              hint="run the same fetch again: it continues where it stopped (or fetch on a "
                                   "faster link and copy the file)")


def _unreachable(url: str, exc: BaseException) -> EnvironmentProblem:
    reason = getattr(exc, "reason", exc)
    return EnvironmentProblem(f"cannot reach {url} ({reason})",
                              hint="fetch on a machine with network access and copy the file, or use --mirror")


def check_room(folder: Path, needed: int, what: str) -> None:
    """OutputBlocked (73) naming both numbers when `needed` bytes do not fit on `folder`'s disk."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise OutputBlocked(f"{what} needs {human(needed)} ({needed:,} bytes); {folder} has {human(free)} "
                            f"({free:,} bytes) free", hint="free some space or choose another --out; a "
                                                           "download continues where it stopped")


def download(url: str, part: Path, progress: Progress, max_bytes: int | None = None, *,
             deadline_s: float, stall_s: float) -> tuple[int, int]:
    """Fetch `url` into `part`, continuing from its current size. Returns (resumed_from, new bytes).

    With `max_bytes`, a download that declares or delivers more is refused (InvalidInput) and its
    .part removed, before it can fill the disk. A declared size that does not fit the disk is
    OutputBlocked before a byte is written. The whole request must end within `deadline_s` and no
    read may wait more than `stall_s`: a trickling server ends as an EnvironmentProblem, the bytes so
    far kept for the next run to continue."""
    _check_scheme(url)
    with Watchdog(deadline_s) as watchdog:
        return _download(url, part, progress, max_bytes, watchdog, stall_s)


def _download(url: str, part: Path, progress: Progress, max_bytes: int | None, watchdog: Watchdog,
              stall_s: float) -> tuple[int, int]:
    start = part.stat().st_size if part.exists() else 0
    report = Reporter(part.name.removeprefix(".").removesuffix(".part"), progress)
    try:
        response = _opener(url, watchdog).open(_request(url, start), timeout=stall_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # nothing left to send: the .part is complete (or too long)
            match = _TOTAL_ONLY.match(exc.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == start:
                return start, 0
            part.unlink()
            return _download(url, part, progress, max_bytes, watchdog, stall_s)  # the same deadline
        raise EnvironmentProblem(f"download of {url} failed: HTTP {exc.code} {exc.reason}",
                                 hint="check the URL (or the --mirror), or download the file by hand") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        if watchdog.expired:
            raise _too_slow(url, watchdog.seconds, start) from exc
        raise _unreachable(url, exc) from exc
    with response:
        total, mode = _expected_total(response, start, url)
        if mode == "wb":
            start = 0  # the server ignored our Range and sends the whole file
        if max_bytes is not None and total is not None and total > max_bytes:
            part.unlink(missing_ok=True)
            raise _too_big(url, total, max_bytes)
        if total is not None:
            check_room(part.parent, total - start, f"the rest of {url}")
        done, new = start, 0
        try:
            with open(part, mode) as handle:
                for block in iter(lambda: response.read(BLOCK), b""):
                    if max_bytes is not None and done + len(block) > max_bytes:
                        handle.close()
                        part.unlink(missing_ok=True)
                        raise _too_big(url, done + len(block), max_bytes)
                    handle.write(block)
                    done += len(block)
                    new += len(block)
                    report(done, total, new)
                handle.flush()
                os.fsync(handle.fileno())
        except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
            if watchdog.expired:
                raise _too_slow(url, watchdog.seconds, done) from exc
            if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
                raise OutputBlocked(f"the disk filled up while fetching {url} ({human(done)} kept in {part})",
                                    hint="free some space and run the same fetch again: it continues "
                                         "where it stopped") from exc
            why = f"no data for {stall_s:g} s" if isinstance(exc, TimeoutError) else str(exc)
            raise EnvironmentProblem(f"download of {url} stopped after {human(done)} ({why})",
                                     hint="run the same fetch again: it continues where it stopped") from exc
    if watchdog.expired and done != total:  # the shut socket read as an early end
        raise _too_slow(url, watchdog.seconds, done)
    report(done, total, new, final=True)
    if total is not None and done != total:
        raise EnvironmentProblem(f"download of {url} ended early ({done} of {total} bytes)",
                                 hint="run the same fetch again: it continues where it stopped")
    return start, new


def read_small(url: str, *, max_bytes: int, deadline_s: float, stall_s: float, accept: str | None = None) -> bytes:
    """The whole body of a small answer (an API's JSON) in memory, refused past `max_bytes`."""
    _check_scheme(url)
    with Watchdog(deadline_s) as watchdog:
        try:
            with _opener(url, watchdog).open(_request(url, 0, accept), timeout=stall_s) as response:
                body = response.read(max_bytes + 1)
        except urllib.error.HTTPError as exc:
            raise EnvironmentProblem(f"{url} answered HTTP {exc.code} {exc.reason}",
                                     hint="check the record id (or the --mirror), or download by hand") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if watchdog.expired:
                raise _too_slow(url, watchdog.seconds, 0) from exc
            raise _unreachable(url, exc) from exc
    if len(body) > max_bytes:
        raise _too_big(url, len(body), max_bytes)
    return body


def _declared_length(text: str | None, url: str) -> int | None:
    """Content-Length as a number; anything but digits is the server's invalid answer (65)."""
    if text is None:
        return None
    if not _DIGITS.fullmatch(text.strip()):
        raise InvalidInput(f"the server sent a malformed Content-Length ({text[:40]!r}) for {url}",
                           hint="the server or a proxy on the way is broken; try again later or use a mirror")
    return int(text.strip())


def _expected_total(response, start: int, url: str) -> tuple[int | None, str]:
    """(total size, file mode): append for a 206 that continues at `start`, else rewrite."""
    length = _declared_length(response.headers.get("Content-Length"), url)
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != start:
            raise EnvironmentProblem("the server answered a resume with the wrong byte range",
                                     hint="delete the .part file and fetch again")
        total = match.group(3)
        return (int(total) if total != "*" else None), "ab"
    return length, "wb"
