"""Markdown and self-contained HTML renderings of the report's tables and plots."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

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


def markdown_table(frame) -> str:
    if frame is None or len(frame) == 0:
        return "_(no rows)_\n"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = [format_cell(v).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(content: ReportContent) -> str:
    parts = [f"# {content.title}\n"]
    parts += [line + "\n\n" for line in content.intro]
    if content.warnings:
        parts.append("\n**Warnings**\n")
        parts += [f"- {w}\n" for w in content.warnings]
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


def _html_table(frame) -> str:
    if frame is None or len(frame) == 0:
        return "<p><em>(no rows)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            text = html.escape(format_cell(value))
            css = ' class="num"' if isinstance(value, int | float) and not isinstance(value, bool) else ""
            if isinstance(value, bool):
                css = ' class="ok"' if value else ' class="bad"'
            cells.append(f"<td{css}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px}th{background:#f0f0f0;text-align:left}td.num{text-align:right}
td.ok{background:#e3f4e3}td.bad{background:#f8e0e0}.warn{background:#fff4d6;border:1px solid #e0c060;
padding:.5em 1em}img{max-width:100%;border:1px solid #ddd}
"""


def to_html(content: ReportContent) -> str:
    """One page, no external resources: images are embedded as base64 data URIs."""
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(content.title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(content.title)}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in content.intro]
    if content.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in content.warnings)
        parts.append(f"<div class=\"warn\"><strong>Warnings</strong><ul>{items}</ul></div>")
    for section in content.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p>{html.escape(section.note)}</p>")
        parts.append(_html_table(section.table))
    for caption, path in content.images:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f"<h2>{html.escape(caption)}</h2><img alt=\"{html.escape(caption)}\" "
                     f"src=\"data:image/png;base64,{data}\">")
    parts.append("</body></html>\n")
    return "".join(parts)
