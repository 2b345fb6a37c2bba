"""Markdown tables (ledger.md, report.md) carry cell text as text: no raw HTML, no broken rows."""

from __future__ import annotations

import pandas as pd
import pytest

from segbook.report.render import markdown_table

pytestmark = pytest.mark.unit


def test_html_in_a_cell_is_escaped_and_newlines_do_not_break_the_row():
    frame = pd.DataFrame({"task_id": ["Task999_SegBookDemo"],
                          "detail": ['<script>alert(1)</script> a|b\nsecond line <img src=x onerror=y>']})
    table = markdown_table(frame)
    assert "<script>" not in table and "<img" not in table and "&lt;script&gt;" in table
    assert len(table.strip().splitlines()) == 3 and "a\\|b" in table
