"""Markdown and self-contained HTML renderings of the report's tables and plots."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas itself only when a table is built
    import pandas as pd

    from segbook.report.summary import Lead

MISSING = "–"


@dataclass
class Section:
    title: str
    table: object  # pandas DataFrame
    note: str = ""
    csv_name: str = ""


@dataclass
class ReportContent:
    title: str
    intro: list[str]
    sections: list[Section]
    images: list[tuple[str, Path]] = field(default_factory=list)  # (caption, png path)
    warnings: list[str] = field(default_factory=list)
    lead: Lead | None = None  # the first screen (receipt reports)
    headline_text: str = ""  # one sentence: cells run, how many reproduce
    cells: pd.DataFrame | None = None  # the per-dataset table with acceptance columns, shown first
    cells_title: str = ""
    cells_note: str = ""
    details: dict = field(default_factory=dict)  # receipt path -> verification detail (tooltips)
    forest: tuple[str, Path] | None = None  # (caption, png): the paired comparisons, after the summary


def format_cell(value) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if math.isinf(value):
            return "inf"
        return f"{value:.2f}"
    text = str(value)
    return MISSING if text in ("nan", "None", "") else text


def markdown_cell(text: str) -> str:
    """Cell text as text: Markdown renderers pass raw HTML through (an error string read off a damaged
    receipt could carry a <script>), a newline or a `|` would break the table."""
    return " ".join(text.split()).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def markdown_table(frame) -> str:
    if frame is None or len(frame) == 0:
        return "_(no rows)_\n"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = [markdown_cell(format_cell(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


MARKDOWN_CELL_COLUMNS = ["task_id", "configuration", "dsc", "ci_low", "ci_high", "dsc_paper", "diff",
                         "acceptance", "reproduces", "verified"]


def _markdown_lead(content: ReportContent) -> list[str]:
    lead = content.lead
    assert lead is not None  # to_markdown calls this only with a lead
    parts = [f"**{content.headline_text}**\n\n"]
    if lead.unverified:
        parts.append(f"**{len(lead.unverified)} receipt(s) FAILED verification** (not counted as reproduced):\n")
        parts += [f"- {u}\n" for u in lead.unverified]
        parts.append("\n")
    gains = lead.gains.rename(columns={"paper_gain": "paper gain", "paper_n": "paper datasets", "gain": "our gain",
                                       "n_pairs": "our pairs", "paper_gain_same": "paper gain, our datasets"})
    parts.append("Fine-tuning gain over scratch (DSC points), paper vs ours:\n\n")
    parts.append(markdown_table(gains.drop(columns=["grouping"])))
    if lead.main_image is not None:
        parts.append(f"\n![Ours vs paper]({lead.main_image.name})\n")
    return parts


def to_markdown(content: ReportContent) -> str:
    parts = [f"# {content.title}\n\n"]
    parts += [line + "\n\n" for line in content.intro]
    if content.lead is not None:
        parts += _markdown_lead(content)
    if content.warnings:
        parts.append("\n**Warnings**\n")
        parts += [f"- {w}\n" for w in content.warnings]
    if content.forest is not None:
        parts.append(f"\n## {content.forest[0]}\n\n![{content.forest[0]}]({content.forest[1].name})\n")
    if content.cells is not None:
        parts.append(f"\n## {content.cells_title}\n\n{content.cells_note}\n\n")
        parts.append(markdown_table(content.cells[MARKDOWN_CELL_COLUMNS]))
    for section in content.sections:
        parts.append(f"\n## {section.title}\n")
        if section.note:
            parts.append(section.note + "\n\n")
        parts.append(markdown_table(section.table))
        if section.csv_name:
            parts.append(f"\n(CSV: `{section.csv_name}`)\n")
    for caption, path in content.images:
        parts.append(f"\n## {caption}\n\n![{caption}]({path.name})\n")
    return "".join(parts)


def to_html(content: ReportContent) -> str:
    """One page, no external resources (segbook.report.page): the lead, the cells, the rest."""
    from segbook.report import page  # noqa: PLC0415 - page imports this module

    parts = [f"<h1>{html.escape(content.title)}</h1>"]
    parts += [f'<p class="meta">{html.escape(line)}</p>' for line in content.intro]
    if content.lead is not None:
        parts.append(page.lead_html(content.lead))
    if content.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in content.warnings)
        parts.append(f'<h2 id="warnings">Warnings</h2><div class="warn"><ul>{items}</ul></div>')
    if content.forest is not None:
        caption, png = content.forest
        parts.append(f"<h2 id=\"forest\">{html.escape(caption)}</h2><figure><img alt=\"{html.escape(caption)}\" "
                     f"src=\"{page.data_uri(png)}\"></figure>")
    if content.cells is not None:
        parts.append(f"<h2>{html.escape(content.cells_title)}</h2><p class=\"note\">"
                     f"{html.escape(content.cells_note)}</p>{page.cells_table(content.cells, content.details)}")
    for section in content.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f'<p class="note">{html.escape(section.note)}</p>')
        parts.append(page.data_table(section.table))
    for caption, path in content.images:
        parts.append(f"<h2>{html.escape(caption)}</h2><figure><img alt=\"{html.escape(caption)}\" "
                     f"src=\"{page.data_uri(path)}\"></figure>")
    return page.page(content.title, "".join(parts))
