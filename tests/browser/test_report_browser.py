"""report.html in a real headless Chromium at 1280 px: loads cleanly, leads with the answer, sorts.

Chromium is Debian's /usr/bin/chromium (`make test-deps`), or the browser SEGBOOK_CHROMIUM names
(the GitHub workflow points it at the runner's Google Chrome); playwright drives it. A missing
browser fails the test: this is the proof that the page works, it must never be skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from segbook.catalog import load_catalog
from segbook.report import build_report
from segbook.report.paper import benchmark_datasets
from tests.report_runs import dice_around, tamper_prediction, write_grid, write_run

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
WIDTH, HEIGHT = 1280, 800
DSC_COLUMN = 5  # page.CELL_HEADERS: dataset, modality, target, size, configuration, DSC, ...


def chromium_path() -> str:
    path = os.environ.get("SEGBOOK_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no Chromium at {path}: install Debian's chromium (make test-deps) or set SEGBOOK_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    """A report over 12 datasets x 4 configurations (+ the demo's STU-Net-S pair), one receipt tampered."""
    out = tmp_path_factory.mktemp("out")
    catalog = load_catalog()
    ids = list(benchmark_datasets(catalog)["task_id"])[::7][:12]
    receipts = write_grid(out, catalog, ids, ["nnunet", "stunet-b_scratch", "stunet-b_ft", "stunet-l_ft"])
    write_run(out, "Task990_MyOrgans", "stunet-s_ft", dice_around(85, 2, 2, 3.0, 1), seed=1)
    write_run(out, "Task990_MyOrgans", "stunet-s_scratch", dice_around(78, 2, 2, 3.0, 2), seed=2)
    tamper_prediction(receipts[6])
    build_report(out / "report", out_root=out, verify=True)
    return out / "report" / "report.html"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only where a browser runs

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    problems = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems


def dsc_values(page) -> list[float]:
    keys = page.eval_on_selector_all(f"#cells tbody tr td:nth-child({DSC_COLUMN + 1})",
                                     "cells => cells.map(c => c.getAttribute('data-v'))")
    return [float(k) for k in keys]


def test_first_screen_answers_and_sorting_works(browser, report_page, tmp_path):
    page, problems = open_page(browser, report_page)
    page.screenshot(path=str(tmp_path / "report-first-screen-1280.png"))
    page.screenshot(path=str(tmp_path / "report-full-1280.png"), full_page=True)
    print(f"screenshots: {tmp_path}")
    assert problems == []

    # the summary and the main plot are on the first screen, whole
    for selector in ("#summary", "#main-plot", "#summary .answer", "#summary table.gains", ".alarm"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, (selector, box)
    answer = page.locator("#summary .answer").inner_text()
    assert "of 48 cells reproduce the paper" in answer and "50 cell(s) run" in answer
    assert "FAILED" in page.locator(".alarm").inner_text()

    # no horizontal scroll at 1280 px, even with the widest table
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths

    # sorting: DSC ascending, then descending; the dataset column alphabetically
    header = page.locator("#cells thead th").nth(DSC_COLUMN)
    header.click()
    ascending = dsc_values(page)
    assert ascending == sorted(ascending) and len(ascending) == 48 + 2
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert dsc_values(page) == sorted(ascending, reverse=True)
    page.locator("#cells thead th").nth(0).click()
    names = page.eval_on_selector_all("#cells tbody tr td:first-child", "c => c.map(x => x.getAttribute('data-v'))")
    assert names == sorted(names)

    # the header stays visible while the table scrolls under it
    page.locator("#cells tbody tr").nth(30).scroll_into_view_if_needed()
    assert abs(page.locator("#cells thead th").first.bounding_box()["y"]) < 1
    assert problems == []
    page.close()
