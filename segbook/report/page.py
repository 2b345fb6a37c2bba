"""report.html: one self-contained page that leads with the answer.

First screen (1280 px wide): how many cells were run and reproduce, the acceptance counts, a loud
banner for receipts that failed verification, the paper's headline fine-tuning gains beside ours,
and the main plot. Then the per-dataset table (sticky header, sortable columns, no horizontal
scroll), then the other tables and plots. No external resources: plots are base64 data URIs, the
few lines of sorting script and the style sheet are inline and allowed by the page's own
Content-Security-Policy (by hash), nothing else may load.
"""

from __future__ import annotations

import base64
import hashlib
import math
from html import escape
from pathlib import Path

from segbook.report import page_assets
from segbook.report.render import MISSING, format_cell


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))


def _sort_key(value) -> str:
    """What a cell sorts by (data-v): the raw number, or the text; empty sorts last."""
    if _is_number(value):
        return repr(float(value))
    text = format_cell(value)
    return "" if text == MISSING else text


def _td(text: str, key, css: str = "", title: str = "") -> str:
    attrs = f' data-v="{escape(_sort_key(key))}"'
    attrs += f' class="{css}"' if css else ""
    attrs += f' title="{escape(title)}"' if title else ""
    return f"<td{attrs}>{text}</td>"


def _points(value, signed: bool = False) -> str:
    if not _is_number(value):
        return MISSING
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def data_table(frame, *, table_id: str = "") -> str:
    """A sortable table of any frame (column names as headers)."""
    if frame is None or len(frame) == 0:
        return "<p><em>(no rows)</em></p>"
    head = "".join(f'<th scope="col" tabindex="0">{escape(str(c))}</th>' for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            css = "num" if _is_number(value) else ("ok" if value is True else "bad" if value is False else "")
            cells.append(_td(escape(format_cell(value)), value, css))
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return (f'<div class="scroll"><table class="sortable"{ident}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


# --- the first screen ---------------------------------------------------------------------------

def _chips(counts: dict) -> str:
    items = [("interval", counts["interval"], "paper inside our 95 % CI"),
             ("tolerance", counts["tolerance"], "within tolerance only"),
             ("neither", counts["neither"], "neither"),
             ("nopaper", counts["no paper value"], "no paper value")]
    chips = "".join(f'<li class="chip {css}"><b>{n}</b> {escape(label)}</li>' for css, n, label in items)
    return f'<ul class="chips">{chips}</ul>'


BANNER_ITEMS = 3  # more would push the rest of the summary below the first screen


def _banner(lead) -> str:
    if lead.unverified:
        items = "".join(f'<li title="{escape(u)}">{escape(u)}</li>' for u in lead.unverified[:BANNER_ITEMS])
        extra = len(lead.unverified) - BANNER_ITEMS
        more = f"<li>… and {extra} more (see the table)</li>" if extra > 0 else ""
        return (f'<div class="alarm" role="alert"><strong>{len(lead.unverified)} receipt(s) FAILED '
                f"verification</strong> — their run folders do not match what they record, or cannot be read; "
                f"those cells are not counted as reproduced (receipts copied without their run folders: "
                f"--no-verify).<ul>{items}{more}</ul></div>")
    if not lead.verification_enabled:
        return ('<div class="notice">Receipts were <strong>not verified</strong> against their files '
                "(built with --no-verify).</div>")
    return ""


def _gain_cells(part, scale: str, with_paper: bool) -> str:
    row = part[part["scale"] == scale]
    r = row.iloc[0] if len(row) else None
    cells = ""
    if with_paper:
        paper = MISSING if r is None else _points(r["paper_gain"], signed=True)
        cells += f'<td class="num">{paper}</td>'
    if r is None or not r["n_pairs"]:
        return cells + f'<td class="num ours">{MISSING}</td>'
    hover = []
    if _is_number(r.get("gain_low")) and _is_number(r.get("gain_high")):  # in the hover: the first screen stays one
        hover.append(f"95 % interval over our datasets: [{_points(r['gain_low'], signed=True)}, "
                     f"{_points(r['gain_high'], signed=True)}]")
    if _is_number(r["paper_gain_same"]):
        hover.append(f"the paper's mean over the same {int(r['n_pairs'])} dataset(s): "
                     f"{_points(r['paper_gain_same'], signed=True)}")
    title = f' title="{escape("; ".join(hover))}"' if hover else ""
    return (cells + f'<td class="num ours"{title}>{_points(r["gain"], signed=True)}'
            f'<span class="n">{int(r["n_pairs"])}</span></td>')


FIRST_SCREEN_GROUPINGS = ("all", "size", "modality")  # what fits the first screen; every grouping is below


def gains_table(gains) -> str:
    """Group x scale: the paper's mean gain (all its datasets) and ours (our pairs), with counts.

    STU-Net-S has no paper column (the paper has no S); its column appears only with our S pairs.
    """
    gains = gains[gains["grouping"].isin(FIRST_SCREEN_GROUPINGS)]  # the target rows: in the findings section
    scales = list(dict.fromkeys(gains["scale"]))
    has_paper = {s: bool(gains.loc[gains["scale"] == s, "paper_n"].max()) for s in scales}
    head1 = "".join(f'<th colspan="{2 if has_paper[s] else 1}">STU-Net-{s}</th>' for s in scales)
    head2 = "".join(("<th>paper</th>" if has_paper[s] else "") + '<th>ours <span class="n">n</span></th>'
                    for s in scales)
    rows, previous = [], None
    for (grouping, group), part in gains.groupby(["grouping", "group"], sort=False):
        css = ' class="break"' if previous is not None and grouping != previous else ""
        previous = grouping
        n = int(part["paper_n"].max())
        cells = "".join(_gain_cells(part, s, has_paper[s]) for s in scales)
        rows.append(f'<tr{css}><th scope="row">{escape(str(group))}</th><td class="num">{n}</td>{cells}</tr>')
    return (f'<table class="gains"><thead><tr><th rowspan="2">group</th><th rowspan="2">paper<br>datasets</th>'
            f"{head1}</tr><tr>{head2}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def lead_html(lead) -> str:
    c = lead.counts
    answer = (f'<p class="answer"><span class="big">{c["reproduce"]}</span> of {c["with_paper"]} cells '
              f"reproduce the paper <span class=\"of\">· {c['cells']} cell(s) run</span></p>")
    warnings = (f' <a href="#warnings">{lead.n_warnings} warning(s) below</a>' if lead.n_warnings else "")
    summary = (f'<section id="summary" aria-label="summary">{answer}<p class="rule">Acceptance: '
               f"{escape(lead.rule_text)}.{warnings}</p>{_chips(c)}{_banner(lead)}"
               "<h2>Fine-tuning gain over scratch (DSC points): paper vs ours</h2>"
               f"{gains_table(lead.gains)}<p class=\"note\">Paper: mean over all its datasets in the group "
               "(Table 3's groups). Ours: mean over our fine-tuned/scratch pairs; n = pairs (hover for the 95 % "
               "interval over those datasets and the paper's "
               "mean over the same datasets; all in headline_gains.csv).</p></section>")
    plot = ""
    if lead.main_image is not None:
        plot = (f'<figure id="main-plot"><img alt="our DSC against the paper\'s, per cell" '
                f'src="{data_uri(lead.main_image)}"><figcaption>Each cell: our DSC with its 95 % bootstrap '
                "interval against the paper's value; grey band: the tolerance.</figcaption></figure>")
    return f'<div class="lead">{summary}{plot}</div>'


# --- the per-dataset table ------------------------------------------------------------------------

ACCEPTANCE_CSS = {"interval": "interval", "tolerance": "tolerance", "neither": "neither",
                  "no paper value": "nopaper"}
ACCEPTANCE_TEXT = {"interval": "in CI", "tolerance": "tolerance", "neither": "neither", "no paper value": "–"}
CELL_HEADERS = ["dataset", "modality", "target", "size", "configuration", "DSC", "95 % CI", "paper", "Δ",
                "accept", "verified", "NSD", "HD95 mm", "test cases"]


def _cell_row(r: dict, details: dict) -> str:
    verified = r.get("verified", "")
    name = f'<b>{escape(str(r["task_id"]))}</b><span class="sub">{escape(str(r["dataset"]))}</span>'
    ci = (f"{r['ci_low']:.1f}–{r['ci_high']:.1f}" if _is_number(r.get("ci_low")) else MISSING)
    acceptance = r.get("acceptance", "")
    badge = f'<span class="pill {ACCEPTANCE_CSS.get(acceptance, "")}">{ACCEPTANCE_TEXT.get(acceptance, "")}</span>'
    vcss = {"verified": "ok", "UNVERIFIED": "alarmcell"}.get(verified, "muted")
    diff_css = "num" if not _is_number(r["diff"]) else ("num pos" if r["diff"] >= 0 else "num neg")
    cells = [
        _td(name, r["task_id"]), _td(escape(str(r["modality"])), r["modality"]),
        _td(escape(str(r["target"])), r["target"]), _td(escape(str(r["size"])), r["size"]),
        _td(escape(str(r["configuration"])), r["configuration"], "nowrap"),
        _td(_points(r["dsc"]), r["dsc"], "num"), _td(ci, r.get("ci_low"), "num"),
        _td(_points(r["dsc_paper"]), r["dsc_paper"], "num"), _td(_points(r["diff"], True), r["diff"], diff_css),
        _td(badge, list(ACCEPTANCE_CSS).index(acceptance) if acceptance in ACCEPTANCE_CSS else None),
        _td(escape(verified), verified, vcss, details.get(r["receipt"], "")),
        _td(_points(r["nsd"]), r["nsd"], "num"), _td(_points(r["hd95"]), r["hd95"], "num"),
        _td(escape(format_cell(r["n_test_cases"])), r["n_test_cases"], "num"),
    ]
    css = ' class="unverified"' if verified == "UNVERIFIED" else ""
    return f"<tr{css}>{''.join(cells)}</tr>"


def cells_table(table, details: dict) -> str:
    head = "".join(f'<th scope="col" tabindex="0">{escape(h)}</th>' for h in CELL_HEADERS)
    body = "".join(_cell_row(r, details) for r in table.to_dict("records"))
    return (f'<table class="sortable cells" id="cells"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


# --- the page -------------------------------------------------------------------------------------

def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def page(title: str, body: str) -> str:
    css, script = page_assets.CSS, page_assets.SORT_SCRIPT
    policy = (f"default-src 'none'; img-src data:; style-src {_csp_hash(css)}; script-src {_csp_hash(script)}; "
              "base-uri 'none'; form-action 'none'")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{css}</style></head><body><main>"
            f"{body}</main><script>{script}</script></body></html>\n")
