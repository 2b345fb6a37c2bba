"""Lock files: what a prepared dataset must contain, as sorted, diffable plain text.

    # segbook-lock/1 ...              header: who/when/what (comments, not hashed)
    case <case> <channel> content=<sha256> geometry=<sha256> voxels=<sha256>
    dataset_sha256 <sha256>           over every content hash and the split
    duplicates <case> <case> ...      a group of cases with identical images, kept on one side of
                                      the split (only when there are such groups; older locks and
                                      locks of datasets without duplicates have no such line)
    format segbook-lock/1
    split <case> test|fold0..fold4
    split_seed <int>
    split_sha256 <sha256>
    task_id <TaskNNN_Name>

Body lines are sorted, so `diff old.lock new.lock` shows exactly what changed. The lock's own
hash (lock_sha256) covers the body only: re-pinning identical data by someone else keeps it.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from segbook.catalog.content import ImageHashes
from segbook.core.errors import Differences, InvalidInput
from segbook.core.fsio import atomic_write_text
from segbook.core.hashing import combine_hashes, sha256_bytes

LOCK_FORMAT = "segbook-lock/1"
LABEL_CHANNEL = "label"
_FIELDS = ("dataset_sha256", "format", "split_seed", "split_sha256", "task_id")


@dataclass(frozen=True)
class LockData:
    task_id: str
    seed: int
    split_sha256: str
    dataset_sha256: str
    images: dict[tuple[str, str], ImageHashes]  # (case, channel) -> hashes
    assignment: dict[str, str]  # case -> "test" | "fold0".."fold4"
    groups: tuple[tuple[str, ...], ...] = ()  # identical cases kept together (see segbook.core.splits)

    @property
    def cases(self) -> set[str]:
        return {case for case, _ in self.images}


@dataclass(frozen=True)
class Difference:
    case: str
    kind: str  # missing | extra | voxels | geometry | channel | split | duplicates | dataset
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.case}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


class LockMismatch(Differences):
    """Prepared content differs from the lock (exit 1); `.differences` lists every one."""

    def __init__(self, message: str, differences: list[Difference], hint: str | None = None):
        super().__init__(message, hint=hint, details=tuple(str(d) for d in differences))
        self.differences = differences


def dataset_sha256(hashes: dict[str, dict[str, ImageHashes]], split_sha256: str) -> str:
    named = {f"{case}/{channel}": h.content for case, chans in hashes.items() for channel, h in chans.items()}
    named["split"] = split_sha256
    return combine_hashes(named)


def lock_from_conversion(task_id: str, split, hashes: dict[str, dict[str, ImageHashes]]) -> LockData:
    assignment = {case: "test" for case in split.test}
    for i, fold in enumerate(split.folds):
        assignment.update({case: f"fold{i}" for case in fold})
    images = {(case, ch): h for case, chans in hashes.items() for ch, h in chans.items()}
    return LockData(task_id=task_id, seed=split.seed, split_sha256=split.sha256,
                    dataset_sha256=dataset_sha256(hashes, split.sha256), images=images, assignment=assignment,
                    groups=tuple(split.groups))


def body_lines(data: LockData) -> list[str]:
    lines = [f"case {case} {ch} content={h.content} geometry={h.geometry} voxels={h.voxels}"
             for (case, ch), h in data.images.items()]
    lines += [f"split {case} {where}" for case, where in data.assignment.items()]
    lines += ["duplicates " + " ".join(group) for group in data.groups]
    lines += [f"dataset_sha256 {data.dataset_sha256}", f"format {LOCK_FORMAT}", f"split_seed {data.seed}",
              f"split_sha256 {data.split_sha256}", f"task_id {data.task_id}"]
    return sorted(lines)


def lock_sha256(data: LockData) -> str:
    return sha256_bytes(("\n".join(body_lines(data)) + "\n").encode())


def _who() -> str:
    try:
        import pwd  # noqa: PLC0415 - POSIX only

        user = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # containers run as uids without a passwd entry
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def render_lock(data: LockData, *, dataset_name: str, tool: str, command: str) -> str:
    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    header = [f"# {LOCK_FORMAT}: pinned content of {data.task_id} ({dataset_name}); see docs/catalog.md",
              f"# created: {now}", f"# by: {_who()}", f"# tool: {tool}", f"# command: {command}",
              f"# cases: {len(data.cases)}, images: {len(data.images)}; body lines are sorted"]
    return "\n".join(header + body_lines(data)) + "\n"


def write_lock(path: Path, data: LockData, *, dataset_name: str, tool: str, command: str) -> str:
    """Write atomically; return the lock's sha256."""
    atomic_write_text(Path(path), render_lock(data, dataset_name=dataset_name, tool=tool, command=command))
    mask = os.umask(0)  # the atomic write leaves 0600; a lock is meant to be shared and committed
    os.umask(mask)
    Path(path).chmod(0o666 & ~mask)
    return lock_sha256(data)


def parse_lock(text: str, where: str) -> LockData:
    images, assignment, fields, groups = {}, {}, {}, []

    def bad(number: int, why: str):
        raise InvalidInput(f"lock {where} line {number}: {why}",
                           hint="restore the lock from version control, or re-pin with --lock --force")

    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if parts[0] == "case" and len(parts) == 6:
            values = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
            if set(values) != {"content", "geometry", "voxels"}:
                bad(number, "a case line needs content=, geometry= and voxels=")
            images[(parts[1], parts[2])] = ImageHashes(**values)
        elif parts[0] == "split" and len(parts) == 3:
            assignment[parts[1]] = parts[2]
        elif parts[0] == "duplicates" and len(parts) >= 3:
            groups.append(tuple(sorted(parts[1:])))
        elif len(parts) == 2 and parts[0] in _FIELDS:
            fields[parts[0]] = parts[1]
        else:
            bad(number, f"cannot parse {line[:60]!r}")
    for key in _FIELDS:
        if key not in fields:
            raise InvalidInput(f"lock {where} has no {key} line", hint="re-pin with --lock --force")
    if fields["format"] != LOCK_FORMAT:
        raise InvalidInput(f"lock {where} is {fields['format']}, this kit reads {LOCK_FORMAT}")
    if not fields["split_seed"].lstrip("-").isdigit():
        raise InvalidInput(f"lock {where}: split_seed is not an integer")
    return LockData(task_id=fields["task_id"], seed=int(fields["split_seed"]),
                    split_sha256=fields["split_sha256"], dataset_sha256=fields["dataset_sha256"],
                    images=images, assignment=assignment, groups=tuple(sorted(groups)))


def read_lock(path: Path) -> LockData | None:
    path = Path(path)
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"lock {path} cannot be read: {exc}") from exc
    return parse_lock(text, str(path))


def _by_case(data: LockData) -> dict[str, dict[str, ImageHashes]]:
    out: dict[str, dict[str, ImageHashes]] = {}
    for (case, ch), h in data.images.items():
        out.setdefault(case, {})[ch] = h
    return out


def compare_locks(expected: LockData, actual: LockData) -> list[Difference]:
    """Every way `actual` differs from `expected`, sorted by case."""
    diffs: list[Difference] = []
    if expected.task_id != actual.task_id:
        diffs.append(Difference("(dataset)", "dataset", f"lock is for {expected.task_id}"))
    if expected.seed != actual.seed:
        diffs.append(Difference("(split)", "split", f"seed {actual.seed}, lock has {expected.seed}"))
    exp, act = _by_case(expected), _by_case(actual)
    diffs += [Difference(c, "missing", "in the lock, not in the data") for c in sorted(set(exp) - set(act))]
    diffs += [Difference(c, "extra", "in the data, not in the lock") for c in sorted(set(act) - set(exp))]
    for case in sorted(set(exp) & set(act)):
        for ch in sorted(set(exp[case]) | set(act[case])):
            if ch not in act[case] or ch not in exp[case]:
                where = "data" if ch in act[case] else "lock"
                diffs.append(Difference(case, "channel", f"{ch} only in the {where}"))
                continue
            e, a = exp[case][ch], act[case][ch]
            if e.voxels != a.voxels:
                diffs.append(Difference(case, "voxels", ch))
            if e.geometry != a.geometry:
                diffs.append(Difference(case, "geometry", ch))
            if e.content != a.content and e.voxels == a.voxels and e.geometry == a.geometry:
                diffs.append(Difference(case, "content", ch))
        if expected.assignment.get(case) != actual.assignment.get(case) and expected.seed == actual.seed:
            got, want = actual.assignment.get(case), expected.assignment.get(case)
            diffs.append(Difference(case, "split", f"{got}, lock has {want}"))
    if set(expected.groups) != set(actual.groups):
        want = "; ".join(" ".join(g) for g in expected.groups) or "none"
        got = "; ".join(" ".join(g) for g in actual.groups) or "none"
        diffs.append(Difference("(split)", "duplicates", f"groups of identical cases: {got}, lock has {want}"))
    if not diffs and expected.dataset_sha256 != actual.dataset_sha256:
        diffs.append(Difference("(dataset)", "dataset", "dataset_sha256 differs"))
    return diffs


def summarize(diffs: list[Difference], limit: int = 8) -> str:
    shown = "; ".join(str(d) for d in diffs[:limit])
    more = f"; and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return shown + more
