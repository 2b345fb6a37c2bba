"""Every problem of a grid, found in one pass before anything is written or submitted.

A grid of 609 cells should not fail on its 3rd dataset, then on its 40th after a fix: the
checks collect Problems and `raise_problems` reports all of them in one two-line error. Its exit
code is the most basic kind present: usage (2, unknown names) before invalid input (65,
duplicates, unpinned weights, unusable paths) before missing input (66, raw folder, lock, weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import ExitCode, error_for_exit_code

PRIORITY = (ExitCode.USAGE, ExitCode.DATA_INVALID, ExitCode.INPUT_MISSING, ExitCode.ENVIRONMENT)
_UNSAFE_IN_PATH = ("\t", "\n", "\r")  # the grid file is tab- and line-separated


@dataclass(frozen=True)
class Problem:
    code: int
    kind: str  # groups the report: "unknown dataset", "no lock", ...
    detail: str  # what and where, e.g. "Task009_Spleen (/data/Task09_Spleen)"


def raise_problems(problems: list[Problem], hint: str) -> None:
    """Raise one SegbookError naming every problem, grouped by kind; do nothing if there are none."""
    if not problems:
        return
    codes = {p.code for p in problems}
    code = next((c for c in PRIORITY if c in codes), max(codes))
    groups: dict[str, list[str]] = {}
    for problem in problems:
        groups.setdefault(problem.kind, []).append(problem.detail)
    listed = "; ".join(f"{kind}: {', '.join(details)}" for kind, details in groups.items())
    noun = "problem" if len(problems) == 1 else "problems"
    raise error_for_exit_code(int(code), f"{len(problems)} {noun} in the grid ({listed})", hint)


def unknown_name(exc) -> str:
    """The catalog's "unknown dataset 'x'; did you mean ...?" as one problem detail."""
    name, _, suggestion = exc.message.removeprefix("unknown dataset ").partition("; did you mean ")
    return f"{name} (did you mean {suggestion.rstrip('?')}?)" if suggestion else name


def unusable_path(path: Path | str) -> bool:
    return any(ch in str(path) for ch in _UNSAFE_IN_PATH)


def check_raw_folders(manifests, data_map: dict[str, Path], data_file: Path | None) -> list[Problem]:
    problems = []
    where = f"in {data_file}" if data_file else "(no --data file given)"
    for manifest in manifests:
        if manifest.kind == "demo":  # generated under the output root: no raw folder needed
            continue
        raw = data_map.get(manifest.task_id)
        if raw is None:
            problems.append(Problem(ExitCode.INPUT_MISSING, f"no raw folder {where}", manifest.task_id))
        elif unusable_path(raw):
            problems.append(Problem(ExitCode.DATA_INVALID, "path with a tab or line break",
                                    f"{manifest.task_id} ({raw!r})"))
        elif not Path(raw).is_dir():
            problems.append(Problem(ExitCode.INPUT_MISSING, "raw folder missing", f"{manifest.task_id} ({raw})"))
    return problems


def check_locks(manifests) -> list[Problem]:
    """A dataset without a lock cannot be checked: pin it once, on purpose, before the grid runs."""
    return [Problem(ExitCode.INPUT_MISSING, "no lock yet", f"{m.task_id} ({m.lock_path})")
            for m in manifests if not m.lock_path.is_file()]


def check_weights(scales: list[str], explicit: dict[str, Path], weights_dir: Path | None,
                  trust_unpinned: bool, registry) -> tuple[dict[str, Path], list[Problem]]:
    """The checkpoint for each STU-Net scale a fine-tuned cell needs, and what is wrong with them.

    Cheap checks only (present, pinned, exact pinned size): each cell re-checks both hashes itself.
    """
    found: dict[str, Path] = {}
    problems = []
    for scale in scales:
        entry = registry.for_scale(scale)
        path = explicit.get(scale) or (Path(weights_dir) / entry.file if weights_dir else None)
        if path is None:
            problems.append(Problem(ExitCode.INPUT_MISSING, "no weights given",
                                    f"STU-Net-{scale} (--weights {scale}=FILE or --weights-dir DIR)"))
            continue
        path = Path(path).absolute()
        if unusable_path(path):
            problems.append(Problem(ExitCode.DATA_INVALID, "path with a tab or line break", repr(str(path))))
        elif not path.is_file():
            problems.append(Problem(ExitCode.INPUT_MISSING, "weights missing", f"STU-Net-{scale} ({path})"))
        elif not entry.pinned and not trust_unpinned:
            problems.append(Problem(ExitCode.DATA_INVALID, "weights not pinned (pin them, or --trust-unpinned)",
                                    f"STU-Net-{scale} ({path})"))
        elif entry.pinned and entry.size_bytes is not None and path.stat().st_size != entry.size_bytes \
                and not trust_unpinned:
            problems.append(Problem(ExitCode.DATA_INVALID, "weights differ from their pin",
                                    f"STU-Net-{scale} ({path}: {path.stat().st_size} bytes, pinned "
                                    f"{entry.size_bytes})"))
        else:
            found[scale] = path
    return found, problems
