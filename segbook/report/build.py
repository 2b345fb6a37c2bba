"""Build a report folder from receipts (or from the paper alone), atomically."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segbook.catalog import load_catalog
from segbook.catalog.sizes import MEDIUM_MAX_CASES, SMALL_MAX_CASES
from segbook.core.errors import InputMissing
from segbook.core.fsio import atomic_directory
from segbook.report import acceptance, bootstrap, paired, plots, summary, tables
from segbook.report.paper import benchmark_datasets, dataset_attributes
from segbook.report.receipts import consistency_warnings, find_receipts, latest_runs, load_runs, per_case_metrics
from segbook.report.render import ReportContent, Section, to_html, to_markdown
from segbook.report.verification import UNVERIFIED, verify_receipts

FOREST_CAPTION = "Paired comparisons per dataset (fine-tuned − scratch where run; every pair in comparisons.csv)"
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
        cuts = (SMALL_MAX_CASES, MEDIUM_MAX_CASES)
    return (f"Size classes by labelled case count: small <= {cuts[0]}, medium {cuts[0] + 1}-{cuts[1]}, "
            f"large > {cuts[1]}.")


def _write_csv(folder: Path, name: str, frame) -> str:
    frame.to_csv(folder / name, index=False, float_format="%.4f")
    return name


def _unverified_lines(table, verification) -> list[str]:
    bad = table[table["verified"] == UNVERIFIED]
    return [f"{r['task_id']} / {r['configuration']}: {verification[r['receipt']].short}"
            for r in bad.to_dict("records")]


def cells_with_acceptance(found, tolerance, rule, verify, cuts, catalog, progress, per_case: dict | None = None):
    """Runs, the per-cell comparison with intervals and acceptance, and the verification of each; with a
    `per_case` dict, also (task_id, configuration) -> the per-case rows of the run the table uses.

    The one acceptance of the kit: `segbook report` and `segbook grid report` both call this."""
    metrics: dict = {}
    runs = load_runs(found, metrics)
    latest = latest_runs(runs)
    cases: dict = {}
    for r in latest.to_dict("records"):  # only the runs the table uses: a grid's other folds are read, not expanded
        cases[r["receipt"]], rows = per_case_metrics(r, metrics[r["receipt"]])
        if per_case is not None:
            per_case[(r["task_id"], r["configuration"])] = rows
    attributes = dataset_attributes(catalog, sorted(latest["task_id"].unique()), cuts)
    table = tables.comparison(latest, attributes, tolerance).assign(receipt=latest["receipt"].to_numpy())
    intervals = bootstrap.intervals_for([(r["task_id"], r["configuration"], cases[r["receipt"]])
                                         for r in latest.to_dict("records")])
    # the locks verify checks against are the ones of the report's own catalog
    verification = verify_receipts(list(latest["receipt"]), enabled=verify, manifests_dir=catalog.root,
                                   progress=progress)
    table = acceptance.add_acceptance(table, intervals, verification, tolerance, rule)
    return runs, table, verification


def _receipt_content(receipts, tolerance, cuts, catalog, folder: Path, *, rule=acceptance.DEFAULT_RULE,
                     verify=False, progress=lambda message: None) -> tuple[ReportContent, dict]:
    per_case: dict = {}
    runs, table, verification = cells_with_acceptance(receipts, tolerance, rule, verify, cuts, catalog, progress,
                                                      per_case)
    warnings = consistency_warnings(runs)
    no_paper = sorted(set(table.loc[table["dsc_paper"].isna(), "configuration"] + " on "
                          + table.loc[table["dsc_paper"].isna(), "task_id"]))
    if no_paper:
        warnings.append(f"no paper value for {len(no_paper)} run(s): {', '.join(no_paper[:5])}"
                        + (" ..." if len(no_paper) > 5 else ""))
    unverified = _unverified_lines(table, verification)  # shown in the page's banner, not as warnings
    gains = tables.finetune_gains(table)
    _write_csv(folder, "runs.csv", runs)
    _write_csv(folder, "comparison.csv", table.drop(columns=["receipt"]))
    case_rows, paired_rows = paired.case_tables(per_case)
    _write_csv(folder, "per_case.csv", case_rows)
    _write_csv(folder, "comparisons.csv", paired_rows)
    shown = runs[RUN_SUMMARY_COLUMNS].assign(lock_sha256=runs["lock_sha256"].map(lambda x: str(x or "")[:12]))
    lead_gains = summary.lead_gains(gains, tables.paper_table(benchmark_datasets(catalog, cuts)))
    sections = [Section("The paper's findings from our cells: fine-tuning gain by size, modality and target",
                        summary.findings_table(lead_gains), summary.FINDINGS_NOTE, "headline_gains.csv")]
    if len(paired_rows):
        sections.append(Section("Paired comparisons per dataset (A − B)", paired_rows, paired.describe_method(),
                                "comparisons.csv"))
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
    sections.append(Section("Runs", shown, "Every receipt read (the newest per dataset x configuration is used); "
                            "all columns, with the receipt paths, are in the CSV.", "runs.csv"))
    main_image = None
    if table["dsc_paper"].notna().any():
        main_image = plots.scatter_plot(table, folder / "ours_vs_paper.png", tolerance)
    images = []
    if len(gains):
        images.append(("Fine-tuning gain per dataset", plots.gain_plot(gains, folder / "finetune_gain.png",
                                                                       ours=True)))
    counts = acceptance.counts(table)
    rule_text = acceptance.describe_rule(rule, tolerance)
    _write_csv(folder, "headline_gains.csv", lead_gains)
    lead = summary.Lead(counts, rule_text, lead_gains, verify, unverified, main_image, len(warnings))
    within = table["within"].dropna()
    headline = {"runs": len(table), "datasets": int(table["task_id"].nunique()),
                "within": f"{int(within.sum())}/{len(within)}", **counts, "rule": rule}
    intro = [f"Built from {len(runs)} receipt(s): {headline['runs']} run(s) on {headline['datasets']} dataset(s). "
             + _size_note(cuts)]
    content = ReportContent("SegBook kit report: our runs vs the paper", intro, sections, images, warnings,
                            lead=lead, headline_text=summary.headline_sentence(counts, rule_text, verify),
                            cells=table, cells_title="Per dataset and configuration",
                            cells_note=f"DSC in %; 95 % CI: seeded bootstrap over the run's test cases "
                                       f"({bootstrap.BOOTSTRAP_RESAMPLES} resamples); Δ = ours − paper in DSC "
                                       f"points; accept: paper inside our CI, else within ±{tolerance:g} points "
                                       "(tolerance), else neither. Click a header to sort.",
                            details={p: v.detail for p, v in verification.items()},
                            forest=(FOREST_CAPTION, plots.forest_plot(paired_rows, folder / "comparisons.png"))
                            if len(paired_rows) else None)
    return content, headline


def _paper_content(cuts, catalog, folder: Path) -> tuple[ReportContent, dict]:
    table = tables.paper_table(benchmark_datasets(catalog, cuts))
    sections = []  # the group means first, the 87-row table last
    for by, label in tables.GROUPINGS.items():
        grouped = tables.paper_grouped(table, by)
        sections.append(Section(f"Paper by {label}", grouped, "Means recomputed from the per-dataset values.",
                                _write_csv(folder, f"by_{by}.csv", grouped)))
    sections.append(Section("Paper, per dataset", table, "DSC in %; gain_X = STU-Net-X fine-tuned minus scratch.",
                            _write_csv(folder, "paper_datasets.csv", table)))
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
                 force: bool = False, manifests_dir: Path | None = None, rule: str = acceptance.DEFAULT_RULE,
                 verify: bool = False, progress=lambda message: None) -> ReportOutcome:
    """Write CSV + Markdown tables, PNG plots and report.html into `out_dir` (all or nothing).

    Without `paper`: receipts under `<out_root>/runs/*/*/receipt.json` plus `receipts` (files
    or folders). With `paper`: the paper's per-dataset values alone. `rule` is the acceptance
    rule (acceptance.RULES); `verify` re-checks every used receipt against its run folder
    (segbook.verify.check_files; the CLI's default) -- off, the report says "not checked".
    `manifests_dir` is the settings' catalog folder (None: the kit's own); never read from the environment.
    """
    out_dir = Path(out_dir)
    found = [] if paper else find_receipts(out_root, list(receipts))
    if not paper and not found:
        where = f"{Path(out_root) / 'runs'}/*/*/receipt.json" if out_root else "the given paths"
        raise InputMissing(f"no receipts found in {where}",
                           hint="run `segbook finetune` first, pass receipt paths, or use --paper")
    catalog = load_catalog(manifests_dir)
    with atomic_directory(out_dir, replace=force) as folder:
        if paper:
            content, headline = _paper_content(size_cuts, catalog, folder)
        else:
            content, headline = _receipt_content(found, tolerance, size_cuts, catalog, folder, rule=rule,
                                                 verify=verify, progress=progress)
        (folder / "report.md").write_text(to_markdown(content), encoding="utf-8")
        (folder / "report.html").write_text(to_html(content), encoding="utf-8")
        files = sorted(p.name for p in folder.iterdir())
    failed = [f"receipt FAILED verification: {u}" for u in (content.lead.unverified if content.lead else [])]
    return ReportOutcome(out_dir, files, failed + content.warnings, len(found), headline)
