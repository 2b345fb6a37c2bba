"""Build a report folder from receipts (or from the paper alone), atomically."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segbook.core.errors import InputMissing
from segbook.core.fsio import atomic_directory
from segbook.report import plots, tables
from segbook.report.paper import benchmark_datasets, dataset_attributes
from segbook.report.receipts import consistency_warnings, find_receipts, latest_runs, load_runs
from segbook.report.render import ReportContent, Section, to_html, to_markdown

RUN_SUMMARY_COLUMNS = ["task_id", "configuration", "dsc", "nsd", "hd95", "n_test_cases", "epochs", "kit_version",
                       "lock_sha256", "runtime", "device", "created"]


@dataclass
class ReportOutcome:
    out_dir: Path
    files: list[str]
    warnings: list[str] = field(default_factory=list)
    n_receipts: int = 0
    headline: dict = field(default_factory=dict)  # key numbers, printed by the CLI


def _size_note(cuts) -> str:
    if cuts is None:
        from segbook.catalog.sizes import MEDIUM_MAX_CASES, SMALL_MAX_CASES

        cuts = (SMALL_MAX_CASES, MEDIUM_MAX_CASES)
    return (f"Size classes by labelled case count: small <= {cuts[0]}, medium {cuts[0] + 1}-{cuts[1]}, "
            f"large > {cuts[1]}.")


def _write_csv(folder: Path, name: str, frame) -> str:
    frame.to_csv(folder / name, index=False, float_format="%.4f")
    return name


def _receipt_content(receipts, tolerance, cuts, catalog, folder: Path) -> tuple[ReportContent, dict]:
    runs = load_runs(receipts)
    warnings = consistency_warnings(runs)
    latest = latest_runs(runs)
    attributes = dataset_attributes(catalog, sorted(latest["task_id"].unique()), cuts)
    table = tables.comparison(latest, attributes, tolerance)
    no_paper = sorted(set(table.loc[table["dsc_paper"].isna(), "configuration"] + " on "
                          + table.loc[table["dsc_paper"].isna(), "task_id"]))
    if no_paper:
        warnings.append(f"no paper value for {len(no_paper)} run(s): {', '.join(no_paper[:5])}"
                        + (" ..." if len(no_paper) > 5 else ""))
    gains = tables.finetune_gains(table)
    _write_csv(folder, "runs.csv", runs)
    shown = runs[RUN_SUMMARY_COLUMNS].assign(lock_sha256=runs["lock_sha256"].map(lambda x: str(x or "")[:12]))
    sections = [Section("Runs", shown, "Every receipt read (the newest per dataset x configuration is used); "
                        "all columns, with the receipt paths, are in the CSV.", "runs.csv"),
                Section("Ours vs paper, per dataset and configuration", table,
                        f"DSC in %; diff = ours - paper in DSC points; within = |diff| <= {tolerance:g}.",
                        _write_csv(folder, "comparison.csv", table))]
    for by, label in tables.GROUPINGS.items():
        grouped = tables.grouped_comparison(table, by)
        sections.append(Section(f"By {label}", grouped, "Means over the datasets of each group; the paper "
                                "column averages the same datasets.", _write_csv(folder, f"by_{by}.csv", grouped)))
    sections.append(Section("Fine-tuning gain (fine-tuned - scratch), per dataset", gains,
                            "DSC points, ours and the paper's.", _write_csv(folder, "finetune_gain.csv", gains)))
    for by, label in tables.GROUPINGS.items():
        grouped = tables.grouped_gains(gains, by)
        sections.append(Section(f"Fine-tuning gain by {label}", grouped, "",
                                _write_csv(folder, f"finetune_gain_by_{by}.csv", grouped)))
    images = []
    if table["dsc_paper"].notna().any():
        images.append(("Ours vs paper", plots.scatter_plot(table, folder / "ours_vs_paper.png", tolerance)))
    if len(gains):
        images.append(("Fine-tuning gain per dataset", plots.gain_plot(gains, folder / "finetune_gain.png",
                                                                       ours=True)))
    within = table["within"].dropna()
    headline = {"runs": len(latest), "datasets": int(latest["task_id"].nunique()),
                "within": f"{int(within.sum())}/{len(within)}"}
    intro = [f"Built from {len(runs)} receipt(s): {headline['runs']} run(s) on {headline['datasets']} dataset(s);"
             f" {headline['within']} within ±{tolerance:g} DSC points of the paper.", _size_note(cuts)]
    content = ReportContent("SegBook kit report: our runs vs the paper", intro, sections, images, warnings)
    return content, headline


def _paper_content(cuts, catalog, folder: Path) -> tuple[ReportContent, dict]:
    table = tables.paper_table(benchmark_datasets(catalog, cuts))
    sections = [Section("Paper, per dataset", table, "DSC in %; gain_X = STU-Net-X fine-tuned minus scratch.",
                        _write_csv(folder, "paper_datasets.csv", table))]
    for by, label in tables.GROUPINGS.items():
        grouped = tables.paper_grouped(table, by)
        sections.append(Section(f"Paper by {label}", grouped, "Means recomputed from the per-dataset values.",
                                _write_csv(folder, f"by_{by}.csv", grouped)))
    gains = tables.paper_gains_long(table)
    _write_csv(folder, "finetune_gain.csv", gains)
    images = [("Fine-tuning gain per dataset (paper)", plots.gain_plot(gains, folder / "finetune_gain.png",
                                                                       ours=False)),
              ("Fine-tuned vs scratch (paper)", plots.paper_scatter_plot(table, folder / "paper_ft_vs_scratch.png"))]
    overall = tables.paper_grouped(table, "size").iloc[0]
    headline = {f"gain_{s}": round(float(overall[f"gain_{s}"]), 2) for s in ("B", "L", "H")}
    headline["datasets"] = len(table)
    intro = [f"The paper's values for {len(table)} datasets, from the catalog manifests. Mean fine-tuning gain "
             f"over scratch: B {headline['gain_B']:+.2f}, L {headline['gain_L']:+.2f}, "
             f"H {headline['gain_H']:+.2f} DSC points.", _size_note(cuts)]
    return ReportContent("SegBook: the paper's results", intro, sections, images), headline


def build_report(out_dir: Path, *, receipts=(), out_root: Path | None = None, paper: bool = False,
                 tolerance: float = tables.DEFAULT_TOLERANCE_POINTS, size_cuts: tuple[int, int] | None = None,
                 force: bool = False, catalog=None) -> ReportOutcome:
    """Write CSV + Markdown tables, PNG plots and report.html into `out_dir` (all or nothing).

    Without `paper`: receipts under `<out_root>/runs/*/*/receipt.json` plus `receipts` (files
    or folders). With `paper`: the paper's per-dataset values alone.
    """
    out_dir = Path(out_dir)
    found = [] if paper else find_receipts(out_root, list(receipts))
    if not paper and not found:
        where = f"{Path(out_root) / 'runs'}/*/*/receipt.json" if out_root else "the given paths"
        raise InputMissing(f"no receipts found in {where}",
                           hint="run `segbook finetune` first, pass receipt paths, or use --paper")
    if catalog is None:
        from segbook.catalog import load_catalog

        catalog = load_catalog()
    with atomic_directory(out_dir, replace=force) as folder:
        if paper:
            content, headline = _paper_content(size_cuts, catalog, folder)
        else:
            content, headline = _receipt_content(found, tolerance, size_cuts, catalog, folder)
        (folder / "report.md").write_text(to_markdown(content), encoding="utf-8")
        (folder / "report.html").write_text(to_html(content), encoding="utf-8")
        files = sorted(p.name for p in folder.iterdir())
    return ReportOutcome(out_dir, files, content.warnings, len(found), headline)
