"""The answer a report leads with: cells run, cells that reproduce, and the paper's headline groups.

The paper summarises fine-tuning gains (fine-tuned minus scratch, DSC points) over all datasets,
by dataset size (small / medium / large) and by modality -- the groups of its Table 3. The lead
table puts, per group and STU-Net scale, the paper's mean gain over all of its datasets in that
group next to ours over the dataset pairs we ran, with the counts behind each mean, a 95 % bootstrap
interval of ours over those datasets (two pairs at least), and the paper's mean over exactly our
datasets (a like-for-like comparison when few cells were run). The target grouping (organ vs
lesion) is the paper's third finding: gains on lesions as well as on structures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.report.bootstrap import mean_interval
from segbook.report.tables import ALL, GAIN_SCALES, group_order

if TYPE_CHECKING:  # pandas itself only when a table is built
    import pandas as pd

# the paper's findings, after "all datasets": the gain by dataset size (its "bottleneck"), by modality (transfer
# from CT to MRI and others) and by target (lesions as well as structures)
LEAD_GROUPINGS = ("size", "modality", "target")
LEAD_COLUMNS = ["grouping", "group", "scale", "paper_gain", "paper_n", "gain", "gain_low", "gain_high", "n_pairs",
                "paper_gain_same"]


@dataclass
class Lead:
    """Everything the first screen shows (rendered by render_html / render.to_markdown)."""

    counts: dict  # acceptance.counts()
    rule_text: str  # the acceptance rule in force, in words
    gains: pd.DataFrame  # LEAD_COLUMNS
    verification_enabled: bool
    unverified: list[str] = field(default_factory=list)  # "task / configuration: detail"
    main_image: Path | None = None  # the main plot
    n_warnings: int = 0  # listed below the first screen


def _mean(frame, column):
    values = frame[column].dropna()
    return (float(values.mean()) if len(values) else float("nan")), int(len(values))


def lead_gains(ours, paper_table):
    """Per group (all, size classes, modalities) and scale: the paper's and our mean gains.

    `ours` is tables.finetune_gains(comparison) (one row per dataset x scale with both runs);
    `paper_table` is tables.paper_table(paper.benchmark_datasets(...)) (all benchmark datasets).
    """
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    rows = []
    scales = [s for s in GAIN_SCALES if s != "S" or (ours["scale"] == "S").any()]
    groups = [("all", ALL, None)]
    for by in LEAD_GROUPINGS:
        # the paper's groups only: our runs on datasets outside the catalog count in "all datasets"
        groups += [(by, g, g) for g in group_order(by, set(paper_table[by].dropna()))]
    for grouping, label, value in groups:
        paper_part = paper_table if value is None else paper_table[paper_table[grouping] == value]
        ours_part = ours if value is None else ours[ours[grouping] == value]
        for scale in scales:
            mine = ours_part[ours_part["scale"] == scale]
            paper_gain, paper_n = (_mean(paper_part, f"gain_{scale}") if f"gain_{scale}" in paper_part
                                   else (float("nan"), 0))
            gain, n_pairs = _mean(mine, "gain")
            same, _ = _mean(mine, "gain_paper")
            # over datasets: one pair alone has no spread to draw from
            low, high = (mean_interval(mine["gain"].dropna().to_numpy(), f"finding/{grouping}/{label}/{scale}")
                         if n_pairs >= 2 else (float("nan"), float("nan")))
            rows.append({"grouping": grouping, "group": label, "scale": scale, "paper_gain": paper_gain,
                         "paper_n": paper_n, "gain": gain, "gain_low": low, "gain_high": high, "n_pairs": n_pairs,
                         "paper_gain_same": same})
    return pd.DataFrame(rows, columns=LEAD_COLUMNS)


FINDINGS_NOTE = ("The paper's three findings, recomputed: fine-tuning gains by dataset size (its 'bottleneck'), by "
                 "modality (transfer from CT) and by target (lesions as well as structures). paper: its mean over "
                 "all its datasets in the group (paper_n); ours: over our fine-tuned/scratch pairs (n_pairs), with "
                 "a 95 % bootstrap interval over those datasets (from 2 pairs); paper_gain_same: the paper's mean "
                 "over our datasets. DSC points.")


def findings_table(gains):
    """The lead gains where we have pairs, every grouping (the first screen shows all, size and modality)."""
    return gains[gains["n_pairs"] > 0].reset_index(drop=True)


def headline_sentence(counts: dict, rule_text: str, verification_enabled: bool) -> str:
    """One sentence: how many cells were run and how many reproduce, by which rule."""
    text = (f"{counts['cells']} cell(s) run; {counts['reproduce']} of {counts['with_paper']} with a paper "
            f"value reproduce ({rule_text}).")
    if counts["unverified"]:
        text += f" {counts['unverified']} receipt(s) FAILED verification and are not counted."
    elif not verification_enabled:
        text += " Receipts were not verified against their files (--no-verify)."
    return text
