"""The reproduction ledger: our Dice next to the paper's for every cell of the grid.

One row per cell (its status where it is not done) and the datasets x configurations table, plus
the paper's groupings (size, modality x target, region) and the mean fine-tuning gains recomputed
from the done cells, each with its count of datasets. The comparison itself is segbook.report's
(tables.comparison, grouped_comparison, finetune_gains, grouped_gains): called, not copied.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.core.fsio import atomic_directory
from segbook.grid.gridfile import Grid
from segbook.report import paired, tables
from segbook.report.acceptance import DEFAULT_RULE, NO_PAPER, describe_rule
from segbook.report.paper import dataset_attributes
from segbook.report.receipts import CONFIG_TO_PAPER, latest_runs
from segbook.report.render import ReportContent, Section, to_html, to_markdown
from segbook.report.verification import UNVERIFIED

if TYPE_CHECKING:  # pandas itself only when a ledger is built
    import pandas as pd

LONG_COLUMNS = ["task_id", "dataset", "modality", "target", "size", "configuration", "paper_key", "fold", "state",
                "dsc", "dsc_paper", "diff", "within", "acceptance", "reproduces", "verified", "restarts", "detail",
                "receipt"]


@dataclass
class Ledger:
    long: pd.DataFrame  # one row per cell
    wide: pd.DataFrame  # datasets x configurations
    diff_matrix: pd.DataFrame  # ours - paper (DSC points) for the heat map, NaN where not done
    state_matrix: pd.DataFrame  # cell states, same shape
    groups: dict = field(default_factory=dict)  # grouping -> DataFrame
    gains: pd.DataFrame | None = None
    gain_groups: dict = field(default_factory=dict)
    headline: dict = field(default_factory=dict)
    per_case: pd.DataFrame | None = None  # segbook report's per_case.csv of the done cells
    comparisons: pd.DataFrame | None = None  # and its comparisons.csv


def _percent(value) -> float:
    return float("nan") if value is None else 100.0 * float(value)


def _cell_text(row) -> str:
    paper = "–" if row["dsc_paper"] != row["dsc_paper"] else f"{row['dsc_paper']:.1f}"
    if row["state"] == "done":
        folds = "" if row["fold"] == "all" else " (folds)"
        return f"{row['dsc']:.1f}{folds} / {paper}"
    return f"{row['state']} / {paper}"


def _one_per_pair(long):
    """One row per dataset x configuration: the fold-"all" cell (the SegBook protocol) where the grid
    has one, else the cross-validation folds together: done when all are, Dice = their mean."""
    rows = []
    for _, group in long.groupby(["task_id", "configuration"], sort=False):
        full = group[group["fold"] == "all"]
        if len(full):
            rows.append(full.iloc[0].to_dict())
            continue
        row = group.iloc[0].to_dict()
        done = group[group["state"] == "done"]
        row["dsc"] = done["dsc"].mean() if len(done) else float("nan")
        row["diff"] = row["dsc"] - row["dsc_paper"]
        row["state"] = "done" if len(done) == len(group) else f"{len(done)}/{len(group)} folds done"
        rows.append(row)
    return long.__class__(rows).set_index(["task_id", "configuration"])


def _accepted(statuses, catalog, tolerance: float, rule: str, verify: bool, progress, per_case: dict):
    """segbook report's acceptance of the done cells (verification, bootstrap interval, tolerance),
    keyed by receipt path; and the runs behind it (`per_case` filled as segbook report fills it)."""
    from segbook.report.build import cells_with_acceptance  # noqa: PLC0415 - pandas/scipy on use

    done = [Path(s.receipt) for s in statuses if s.state == "done" and s.receipt]
    if not done:
        return {}, None
    runs, table, _ = cells_with_acceptance(done, tolerance, rule, verify, None, catalog, progress, per_case)
    return {os.path.realpath(row["receipt"]): row for row in table.to_dict("records")}, runs


def build_ledger(grid: Grid, statuses, catalog, tolerance: float = tables.DEFAULT_TOLERANCE_POINTS, *,
                 rule: str = DEFAULT_RULE, verify: bool = True, progress=lambda message: None) -> Ledger:
    import pandas as pd  # noqa: PLC0415

    attributes = dataset_attributes(catalog, sorted({s.task_id for s in statuses}))
    per_case: dict = {}
    accepted, runs = _accepted(statuses, catalog, tolerance, rule, verify, progress, per_case)
    rows = []
    for s in statuses:
        attrs = attributes[s.task_id]
        key = CONFIG_TO_PAPER.get(s.configuration)
        paper = attrs["paper"].get(key, float("nan")) if key else float("nan")
        dsc = _percent(s.mean_dice) if s.state == "done" else float("nan")
        diff = dsc - paper
        judged = accepted.get(os.path.realpath(s.receipt), {}) if s.state == "done" and s.receipt else {}
        rows.append({"task_id": s.task_id, "dataset": attrs["dataset"], "modality": attrs["modality"],
                     "target": attrs["target"], "size": attrs["size"], "configuration": s.configuration,
                     "paper_key": key, "fold": s.fold, "state": s.state, "dsc": dsc, "dsc_paper": paper,
                     "diff": diff, "within": None if diff != diff else bool(abs(diff) <= tolerance),
                     "acceptance": judged.get("acceptance"), "reproduces": judged.get("reproduces"),
                     "verified": judged.get("verified"),
                     "restarts": s.restarts, "detail": s.error or s.detail, "receipt": s.receipt})
    long = pd.DataFrame(rows, columns=LONG_COLUMNS)
    pick = _one_per_pair(long)
    order = list(dict.fromkeys(long["configuration"]))
    datasets = list(dict.fromkeys(long["task_id"]))
    texts = {(t, c): _cell_text(pick.loc[(t, c)]) for t, c in pick.index}
    wide = pd.DataFrame([{"task_id": t, **{c: texts.get((t, c), "") for c in order}} for t in datasets])
    diff_matrix = pd.DataFrame([[pick["diff"].get((t, c), float("nan")) for c in order] for t in datasets],
                               index=datasets, columns=order, dtype=float)
    state_matrix = pd.DataFrame([[pick["state"].get((t, c), "") for c in order] for t in datasets],
                                index=datasets, columns=order)
    ledger = Ledger(long, wide, diff_matrix, state_matrix)
    judged = long[long["acceptance"].notna() & (long["acceptance"] != NO_PAPER)]
    ledger.headline = {"cells": len(long), "done": int((long["state"] == "done").sum()),
                       "reproduce": f"{int(judged['reproduces'].fillna(False).astype(bool).sum())}/{len(judged)}",
                       "unverified": int((long["verified"] == UNVERIFIED).sum()),
                       "rule": describe_rule(rule, tolerance)}
    if runs is not None:
        latest = latest_runs(runs)
        if len(latest):
            table = tables.comparison(latest, dataset_attributes(catalog, sorted(latest["task_id"].unique())),
                                      tolerance)
            ledger.groups = {by: tables.grouped_comparison(table, by) for by in tables.GROUPINGS}
            ledger.gains = tables.finetune_gains(table)
            ledger.gain_groups = {by: tables.grouped_gains(ledger.gains, by) for by in tables.GROUPINGS}
            ledger.per_case, ledger.comparisons = paired.case_tables(per_case)
    return ledger


def ledger_content(grid: Grid, ledger: Ledger, tolerance: float, heatmap: Path | None) -> ReportContent:
    h = ledger.headline
    intro = [f"Grid {grid.folder} ({grid.sha256[:12]}): {h['cells']} cells, {h['done']} done; {h['reproduce']} of "
             f"the done cells with a paper value reproduce it ({h['rule']}; a cell whose receipt does not "
             f"verify never does: {h['unverified']} unverified). The same rule as `segbook report`.",
             "Cells read `ours / paper` (DSC %) when done, `state / paper` otherwise. Groups and gains below are "
             "recomputed from the done cells trained on all training cases (fold all); n_datasets counts them."]
    sections = [Section("Ledger: datasets x configurations", ledger.wide, "", "ledger_wide.csv"),
                Section("Every cell", ledger.long.drop(columns=["receipt"]), f"diff = ours - paper in DSC points; "
                        f"within = |diff| <= {tolerance:g}.", "ledger.csv")]
    for by, label in tables.GROUPINGS.items():
        if by in ledger.groups:
            sections.append(Section(f"By {label} (done cells)", ledger.groups[by], "Means over the datasets of "
                                    "each group; the paper column averages the same datasets.", f"by_{by}.csv"))
    if ledger.gains is not None and len(ledger.gains):
        for by, label in tables.GROUPINGS.items():
            sections.append(Section(f"Fine-tuning gain by {label} (done pairs)", ledger.gain_groups[by],
                                    "Fine-tuned minus scratch, DSC points, ours and the paper's.",
                                    f"finetune_gain_by_{by}.csv"))
    if ledger.comparisons is not None and len(ledger.comparisons):
        sections.append(Section("Paired comparisons per dataset (A − B)", ledger.comparisons,
                                paired.describe_method(), "comparisons.csv"))
    images = [("Ours - paper, DSC points", heatmap)] if heatmap else []
    return ReportContent(f"SegBook reproduction ledger: {grid.folder.name}", intro, sections, images)


def write_ledger(out_dir: Path, grid: Grid, ledger: Ledger, tolerance: float, force: bool) -> list[str]:
    """CSV, Markdown, the heat map PNG and one HTML page, all or nothing."""
    from segbook.grid.ledger_plot import heatmap  # noqa: PLC0415

    with atomic_directory(Path(out_dir), replace=force) as folder:
        ledger.long.to_csv(folder / "ledger.csv", index=False, float_format="%.2f")
        ledger.wide.to_csv(folder / "ledger_wide.csv", index=False)
        for by, frame in ledger.groups.items():
            frame.to_csv(folder / f"by_{by}.csv", index=False, float_format="%.2f")
        for by, frame in ledger.gain_groups.items():
            frame.to_csv(folder / f"finetune_gain_by_{by}.csv", index=False, float_format="%.2f")
        if ledger.per_case is not None and ledger.comparisons is not None:
            ledger.per_case.to_csv(folder / "per_case.csv", index=False, float_format="%.4f")
            ledger.comparisons.to_csv(folder / "comparisons.csv", index=False, float_format="%.4f")
        png = heatmap(ledger.diff_matrix, ledger.state_matrix, folder / "ledger.png", tolerance)
        content = ledger_content(grid, ledger, tolerance, png)
        (folder / "ledger.md").write_text(to_markdown(content), encoding="utf-8")
        (folder / "ledger.html").write_text(to_html(content), encoding="utf-8")
        files = sorted(p.name for p in folder.iterdir())
    return files
