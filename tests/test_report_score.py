"""`coopindex score --report`: COINr's ASEM example gets the edition report's pages, offline.

The report is read in a real browser (see tests/test_report_browser.py for the skip rule)
and its numbers are checked against the `results.csv` the same command wrote.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

from tests.browser import links, visit
from tests.conftest import coopindex
from tests.test_coinr_asem import ASEM, METHOD

# Page → how many charts it must show; the edition-only pages are not there.
PAGES = {"index.html": 1, "framework.html": 0, "indicators.html": 3, "robustness.html": 0,
         "units/CHE.html": 1}  # fmt: skip


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("asem-report")
    data = ["--framework", str(ASEM / "ASEM_iMeta.csv"), "--data", str(ASEM / "ASEM_iData.csv")]
    result = coopindex("score", *data, "--method", str(METHOD), "--out", str(out), "--report")
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result.stdout


def test_the_command_says_where_the_report_is(scored):
    out, stdout = scored
    assert f"report: {out / 'report' / 'index.html'}" in stdout.replace("\n", "")
    assert not (out / "report" / "changes.html").exists() and not (out / "report" / "quality.html").exists()
    units = pd.read_csv(out / "results.csv")["unit"]
    assert sorted(p.stem for p in (out / "report" / "units").glob("*.html")) == sorted(units)


def test_every_page_opens_offline_with_its_charts_and_links(browser, scored, tmp_path):
    out, _ = scored
    report = out / "report"
    for name, expected in PAGES.items():
        page, errors, outside = visit(browser, (report / name).as_uri(), tmp_path / f"{Path(name).stem}.png")
        assert errors == [] and outside == [], name
        charts = page.query_selector_all("svg.chart")
        assert len(charts) == expected, name
        for chart in charts:
            assert chart.evaluate("e => e.querySelectorAll('path, text, use').length") > 10, name
        for href in links(page):
            target = urlparse(href)
            assert target.scheme == "file" and Path(unquote(target.path)).exists(), (name, href)
        nav = page.inner_text("nav")
        assert "What changed" not in nav and "Data quality" not in nav
        page.close()


def test_the_pages_show_the_scores_of_results_csv(browser, scored):
    out, _ = scored
    results = pd.read_csv(out / "results.csv").set_index("unit")
    page, _, _ = visit(browser, (out / "report" / "index.html").as_uri())
    header = page.inner_text("header")
    assert "Sustainable Connectivity · scored from ASEM_iData.csv" in header
    for unit in ("CHE", "NLD", "RUS"):
        row = page.locator("tr", has_text=str(results.at[unit, "name"])).first.inner_text().split("\t")
        assert row[0] == str(results.at[unit, "rank"]) and row[2] == f"{results.at[unit, 'Index']:.4f}"
    page, _, _ = visit(browser, (out / "report" / "units" / "CHE.html").as_uri())
    text = page.inner_text("main")
    assert "Switzerland" in text and f"{results.at['CHE', 'Index']:.4f}" in text
    assert "Trade with the CEEC" not in text and "best unit" in text
