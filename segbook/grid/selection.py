"""--datasets / --configs / --folds -> the cells of a grid, in one stable order.

Datasets: names (task id, display name, alias, nnU-Net id; see segbook.catalog), `all` (the 87
benchmark datasets; the demo only by name) and filters KEY=VALUE on modality, target, size or
region. Names add datasets; filters keep those that match (the same key given twice: either
value; different keys: both). Filters alone apply to `all`.
Configurations: `paper` (the seven of the paper), `all`, or names such as nnunet,stunet-b_ft.
Folds: `all` (train on every training case: the SegBook protocol), 0-4, or lists like 0,2 or all,0-4.

Problems are collected, not raised, so the caller reports every one of them at once.
"""

from __future__ import annotations

import re
from collections import Counter

from segbook.catalog.sizes import SIZE_CLASSES
from segbook.core.errors import ExitCode, UsageProblem
from segbook.grid.cells import CONFIG_NAMES, FOLDS, PAPER_CONFIGS, Cell, config_rank, fold_rank
from segbook.grid.preflight import Problem, unknown_name

FILTERS = {
    "modality": lambda m: [m.modality],
    "target": lambda m: [m.target],
    "size": lambda m: [m.size or ""],
    "region": lambda m: list(m.regions),
}


def _key(text: str) -> str:
    """'seen-structure', 'Seen structure' and 'seen_structure' all mean the same filter value."""
    return re.sub(r"[^0-9a-z]", "", str(text).casefold())


def split_terms(values) -> list[str]:
    """Options may be repeated and hold comma-separated lists."""
    return [t.strip() for v in values for t in str(v).split(",") if t.strip()]


def _filter_problems(filters: dict[str, set[str]], given: dict[str, str], benchmark) -> list[Problem]:
    problems = []
    for key, wanted in filters.items():
        if key not in FILTERS:
            problems.append(Problem(ExitCode.USAGE, "unknown filter", f"{key} (filters: {', '.join(FILTERS)})"))
            continue
        known = {_key(v): v for m in benchmark for v in FILTERS[key](m) if v}
        if key == "size":
            known.update({s: s for s in SIZE_CLASSES})
        for value in sorted(wanted - set(known)):
            problems.append(Problem(ExitCode.USAGE, f"unknown {key}",
                                    f"{given[value]!r} (known: {', '.join(sorted(set(known.values())))})"))
    return problems


def select_datasets(terms: list[str], catalog) -> tuple[list, list[Problem]]:
    """The manifests the terms name, with repeats kept (they become duplicate cells)."""
    benchmark = [m for m in catalog if m.kind == "catalog"]
    names = [t for t in terms if "=" not in t]
    filters: dict[str, set[str]] = {}
    given: dict[str, str] = {}  # normalised value -> as typed, for messages
    for term in (t for t in terms if "=" in t):
        key, _, value = term.partition("=")
        filters.setdefault(key.strip().lower(), set()).add(_key(value))
        given[_key(value)] = value.strip()
    problems = _filter_problems(filters, given, benchmark)
    chosen = []
    for name in names or ["all"]:
        if name.lower() == "all":
            chosen.extend(benchmark)
            continue
        try:
            chosen.append(catalog.get(name))
        except UsageProblem as exc:
            problems.append(Problem(ExitCode.USAGE, "unknown dataset", unknown_name(exc)))
    for key, wanted in filters.items():
        if key in FILTERS:
            chosen = [m for m in chosen if {_key(v) for v in FILTERS[key](m)} & wanted]
    if not chosen and not problems:
        problems.append(Problem(ExitCode.USAGE, "empty selection", f"no dataset matches {', '.join(terms)}"))
    return chosen, problems


def select_configs(terms: list[str]) -> tuple[list[str], list[Problem]]:
    chosen: list[str] = []
    problems: list[Problem] = []
    for term in terms or ["paper"]:
        if term.lower() == "paper":
            chosen.extend(PAPER_CONFIGS)
        elif term.lower() == "all":
            chosen.extend(CONFIG_NAMES)
        elif term.lower() in CONFIG_NAMES:
            chosen.append(term.lower())
        else:
            problems.append(Problem(ExitCode.USAGE, "unknown configuration",
                                    f"{term!r} (paper, all, or: {', '.join(CONFIG_NAMES)})"))
    return chosen, problems


def select_folds(terms: list[str]) -> tuple[list[str], list[Problem]]:
    chosen: list[str] = []
    problems: list[Problem] = []
    for term in terms or ["all"]:
        span = re.fullmatch(r"([0-4])-([0-4])", term)
        if span and int(span.group(1)) <= int(span.group(2)):
            chosen.extend(str(k) for k in range(int(span.group(1)), int(span.group(2)) + 1))
        elif term.lower() in FOLDS:
            chosen.append(term.lower())
        else:
            problems.append(Problem(ExitCode.USAGE, "unknown fold", f"{term!r} (all, 0-4, or a list like 0,2)"))
    return chosen, problems


def make_cells(datasets, configs: list[str], folds: list[str], catalog) -> tuple[list[Cell], list[Problem]]:
    """Every combination, sorted (catalog order, paper configuration order, fold); repeats are problems."""
    position = {m.task_id: i for i, m in enumerate(catalog)}
    cells = [Cell(m.task_id, c, f) for m in datasets for c in configs for f in folds]
    counts = Counter(cells)
    problems = [Problem(ExitCode.DATA_INVALID, "duplicate cell", f"{cell.id} (x{n})")
                for cell, n in sorted(counts.items()) if n > 1]
    unique = sorted(counts, key=lambda c: (position[c.task_id], config_rank(c.configuration), fold_rank(c.fold)))
    return unique, problems
