"""Download a checkpoint: resume with HTTP Range, verify, and only then move it into place.

The partial download lives next to the target as `.<file>.part`, so an interrupted fetch continues
where it stopped and the final rename is atomic (same folder, same file system). A file that fails
its pin is deleted; a complete but unpinned one is kept as .part until the user decides to trust it.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from segbook import __version__
from segbook.core.errors import EnvironmentProblem, InvalidInput, OutputBlocked
from segbook.core.progress import Progress
from segbook.weights.checks import MISMATCH, UNPINNED, FileCheck, check_file, refusal
from segbook.weights.registry import WeightsEntry, plain_file_name
from segbook.weights.watchdog import Watchdog, handlers

_BLOCK = 1 << 20
# read at call time, so tests (and a caller on a slow link) can change them
STALL_S = 60.0  # no byte for this long: the download stalled (the socket timeout)
DEADLINE_S = 6 * 3600.0  # one download, headers to last byte: 11.7 GB (STU-Net-H) needs about 0.6 MB/s
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_TOTAL_ONLY = re.compile(r"bytes \*/(\d+)")
_DIGITS = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class FetchResult:
    path: Path
    check: FileCheck
    downloaded_bytes: int  # 0 when the file was already there or the .part was complete
    resumed_from: int  # bytes already in the .part when this fetch started
    skipped: bool  # the final file was already present and verified


def part_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.part")


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _opener(url: str, watchdog: Watchdog):
    # a proxy from the environment must never see loopback traffic (tests, local mirrors)
    proxies = [urllib.request.ProxyHandler({})] if _is_loopback(url) else []
    return urllib.request.build_opener(*proxies, *handlers(watchdog))


def _request(url: str, start: int) -> urllib.request.Request:
    headers = {"User-Agent": f"segbook/{__version__}", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) checked by the caller


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} GB"


class _Reporter:
    """One progress line every few seconds and at the end (logs stay readable)."""

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
        of = f"/{_human(total)}" if total else ""
        self.progress(f"fetch {self.name}: {_human(done)}{of}{share} at {_human(rate)}/s")


def _too_big(url: str, size: int, max_bytes: int) -> InvalidInput:
    return InvalidInput(f"download of {url} is larger than its limit ({size:,} > {max_bytes:,} bytes)",
                        hint="the server sends something else than the registered checkpoint; check the "
                             "URL (or raise --max-size for a mirror you trust)")


def _too_slow(url: str, seconds: float, done: int) -> EnvironmentProblem:
    return EnvironmentProblem(f"download of {url} took longer than its deadline ({seconds:g} s; "
                              f"{_human(done)} arrived)",
                              hint="run the same fetch again: it continues where it stopped (or fetch on a "
                                   "faster link and copy the file)")


def download(url: str, part: Path, progress: Progress, max_bytes: int | None = None, *,
             deadline_s: float | None = None, stall_s: float | None = None) -> tuple[int, int]:
    """Fetch `url` into `part`, continuing from its current size. Returns (resumed_from, new bytes).

    With `max_bytes`, a download that declares or delivers more is refused (InvalidInput) and its
    .part removed, before it can fill the disk. The whole request must end within `deadline_s`
    (default DEADLINE_S) and no read may wait more than `stall_s` (default STALL_S): a trickling
    server ends as an EnvironmentProblem, the bytes so far kept for the next run to continue."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise InvalidInput(f"refusing to fetch {url}: only http(s) URLs", hint="fix the URL in the registry")
    deadline_s = DEADLINE_S if deadline_s is None else deadline_s
    stall_s = STALL_S if stall_s is None else stall_s
    with Watchdog(deadline_s) as watchdog:
        return _download(url, part, progress, max_bytes, watchdog, stall_s)


def _download(url: str, part: Path, progress: Progress, max_bytes: int | None, watchdog: Watchdog,
              stall_s: float) -> tuple[int, int]:
    start = part.stat().st_size if part.exists() else 0
    report = _Reporter(part.name.removeprefix(".").removesuffix(".part"), progress)
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
                                 hint="check the URL in manifests/weights.yaml, or fetch by hand") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        if watchdog.expired:
            raise _too_slow(url, watchdog.seconds, start) from exc
        reason = getattr(exc, "reason", exc)
        raise EnvironmentProblem(f"cannot reach {url} ({reason})",
                                 hint="fetch on a machine with network access and copy the file, or "
                                      "mount it at /weights in a container") from exc
    with response:
        total, mode = _expected_total(response, start, url)
        if mode == "wb":
            start = 0  # the server ignored our Range and sends the whole file
        if max_bytes is not None and total is not None and total > max_bytes:
            part.unlink(missing_ok=True)
            raise _too_big(url, total, max_bytes)
        done, new = start, 0
        try:
            with open(part, mode) as handle:
                for block in iter(lambda: response.read(_BLOCK), b""):
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
            why = f"no data for {stall_s:g} s" if isinstance(exc, TimeoutError) else str(exc)
            raise EnvironmentProblem(f"download of {url} stopped after {_human(done)} ({why})",
                                     hint="run the same fetch again: it continues where it stopped") from exc
    if watchdog.expired and done != total:  # the shut socket read as an early end
        raise _too_slow(url, watchdog.seconds, done)
    report(done, total, new, final=True)
    if total is not None and done != total:
        raise EnvironmentProblem(f"download of {url} ended early ({done} of {total} bytes)",
                                 hint="run the same fetch again: it continues where it stopped")
    return start, new


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


def fetch_entry(entry: WeightsEntry, dest_dir: Path, *, trust_unpinned: bool = False, force: bool = False,
                url: str | None = None, progress: Progress = lambda message: None,
                max_bytes: int | None = None, deadline_s: float | None = None,
                stall_s: float | None = None) -> FetchResult:
    """Download `entry` into `dest_dir`/`entry.file` (see the module docstring for the states).
    `max_bytes` defaults to the entry's own limit (WeightsEntry.max_download_bytes); `deadline_s`
    and `stall_s` bound the download's time (see download)."""
    dest_dir = Path(dest_dir)
    target = dest_dir / plain_file_name(entry.file, f"weights entry {entry.scale}")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputBlocked(f"cannot create {dest_dir} ({exc.strerror})",
                            hint="choose another --dest") from exc
    if not os.access(dest_dir, os.W_OK):
        raise OutputBlocked(f"{dest_dir} is not writable",
                            hint="choose another --dest or fix its permissions")
    if target.exists():
        existing = check_file(entry, target)
        if existing.ok or (existing.status == UNPINNED and trust_unpinned):
            progress(f"{target} is already there ({existing.status})")
            return FetchResult(target, existing, 0, 0, skipped=True)
        if not force:
            raise OutputBlocked(f"{target} exists and is {existing.status}",
                                hint="pass --force to replace it with a fresh download")
    part = part_path(target)
    resumed_from, new = download(url or entry.url, part, progress,
                                 entry.max_download_bytes if max_bytes is None else max_bytes,
                                 deadline_s=deadline_s, stall_s=stall_s)
    try:
        check = check_file(entry, part)
    except InvalidInput:  # the bytes are no loadable checkpoint: a rerun must start from scratch
        part.unlink(missing_ok=True)
        raise
    if check.status == MISMATCH or (check.status == UNPINNED and check.problem):
        part.unlink(missing_ok=True)  # damaged or wrong: a rerun must start from scratch
        raise refusal(check)
    if check.status == UNPINNED and not trust_unpinned:
        raise refusal(check)  # complete and plausible: kept as .part, so a trusted rerun needs no download
    os.replace(part, target)
    return FetchResult(target, _moved(check, target), new, resumed_from, skipped=False)


def _moved(check: FileCheck, target: Path) -> FileCheck:
    from dataclasses import replace  # noqa: PLC0415

    return replace(check, path=target)
