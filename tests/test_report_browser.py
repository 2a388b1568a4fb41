"""The 2018 report in a real browser (Chromium through Playwright), opened from file://.

Skips when Playwright or Chromium is missing, with how to install them; under CI=true a
missing browser fails instead, so CI cannot pass without having looked.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.browser import links, visit
from tests.test_report import two_editions

# Page → how many charts it must show.
PAGES = {"index.html": 1, "framework.html": 0, "indicators.html": 3, "changes.html": 1,
         "robustness.html": 2, "quality.html": 0, "cities/NGB.html": 2, "cities/XIY.html": 2}  # fmt: skip


@pytest.fixture(scope="module")
def report(published_2018, tmp_path_factory) -> Path:
    return two_editions(published_2018[0], tmp_path_factory).rebuilt_report(2018)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report-screenshots")


def test_every_page_opens_offline_with_its_charts_and_links(browser, report, screenshots):
    pages = [*PAGES, *sorted(str(p.relative_to(report)) for p in (report / "cities").glob("*.html"))]
    for name in dict.fromkeys(pages):
        shot = screenshots / f"{name.replace('/', '-')[:-5]}.png" if name in PAGES else None
        page, errors, outside = visit(browser, (report / name).as_uri(), shot)
        assert errors == [], name
        assert outside == [], name
        charts = page.query_selector_all("svg.chart")
        assert len(charts) == PAGES.get(name, 2), name
        for chart in charts:
            box = chart.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 50, name
            assert chart.evaluate("e => e.querySelectorAll('path, text, use').length") > 10, name
        for href in links(page):
            target = urlparse(href)
            assert target.scheme == "file", (name, href)
            assert Path(unquote(target.path)).exists(), (name, href)
        page.close()
    print(f"screenshots: {screenshots}")


def test_the_pages_say_what_the_numbers_are(browser, report):
    page, _, _ = visit(browser, (report / "cities" / "NGB.html").as_uri())
    text = page.inner_text("main")
    assert "69.3453" in text and "24.36" in text and "宁波" in text
    page, _, _ = visit(browser, (report / "changes.html").as_uri())
    row = page.locator("tr", has_text="Xi'an").first.inner_text()
    assert "Economic and trade cooperation -8.13" in row.replace("\t", " ")
    cells = row.split("\t")
    assert cells[1:4] == ["2", "10", "▼ 8"], cells
    assert "(score 36.5 → 18.0)" in row


def test_the_editions_index_and_the_published_report(browser, report, screenshots):
    warehouse = report.parents[1]
    for url, shot in ((warehouse / "report" / "index.html", "editions.png"),
                      (warehouse / "edition=2018" / "report" / "index.html", None)):  # fmt: skip
        page, errors, outside = visit(browser, url.as_uri(), screenshots / shot if shot else None)
        assert errors == [] and outside == []
        assert len(page.query_selector_all("svg.chart")) >= 1
        for href in links(page):
            assert Path(unquote(urlparse(href).path)).exists(), href
