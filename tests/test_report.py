"""The edition report without a browser: what it is built from, and that it stays offline.

One warehouse for the run (the browser tests read it too): the session's published 2018
edition (whose run wrote its report) with 2017 published beside it in memory, then the 2018
report rebuilt against both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tasks.report.build import rebuild_report, report_data, write_index
from tasks.report.data import moves
from tasks.warehouse.catalog import Catalog
from tests.conftest import copy_warehouse, made_once

BUILT: dict[Path, Catalog] = {}
MAKES_FOR_OTHERS = True  # the browser tests read its warehouse: it comes early (conftest)


def two_editions(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """2018 (the real flow run) and 2017 (in memory) published, every report written; built
    once for the whole run (`made_once`: this module and the browser tests may run in the two
    workers at once), which only read it."""
    if pristine not in BUILT:
        from tasks.edition.pipeline import run_edition

        def make(folder: Path) -> None:
            catalog = Catalog(warehouse=copy_warehouse(pristine, folder / "warehouse"))
            run_edition(catalog, 2017)
            rebuild_report(catalog, 2018)
            write_index(catalog)

        BUILT[pristine] = Catalog(warehouse=made_once(tmp_path_factory, "two-editions", make) / "warehouse")
    return BUILT[pristine]


@pytest.fixture(scope="module")
def catalog(published_2018, tmp_path_factory) -> Catalog:
    return two_editions(published_2018[0], tmp_path_factory)


def test_every_published_edition_carries_its_report(catalog):
    for edition in (2017, 2018):
        folder = catalog.edition_report(edition)
        assert (folder / "index.html").is_file()
        pages = {p.name for p in folder.glob("*.html")}
        assert pages == {"index.html", "framework.html", "indicators.html", "changes.html",
                         "robustness.html", "quality.html"}  # fmt: skip
        assert len(list((folder / "cities").glob("*.html"))) == 30
    assert "edition 2017" in (catalog.reports / "index.html").read_text()


def test_the_report_loads_nothing_from_outside(catalog):
    for page in catalog.rebuilt_report(2018).rglob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script|<link|<iframe|<img|@import|url\((?!#)", html, re.I), page
        refs = re.findall(r'(?:href|src)="([^"]+)"', html)  # no data: images either: vector only
        assert not [r for r in refs if re.match(r"[a-z]+:", r)], page
        assert 'lang="zh"' in html or page.name != "index.html"


def test_xian_fell_because_of_economic_and_trade_cooperation(catalog):
    changed = moves(report_data(catalog, 2018)).loc["XIY"]
    assert (changed["rank_before"], changed["rank_after"]) == (2, 10)
    assert changed["drivers"][0][0] == "economic_trade"
    assert changed["drivers"][0][1] == pytest.approx(-8.13, abs=0.005)
    _, _, was, now = changed["drivers"][0]
    assert (round(was, 1), round(now, 1)) == (36.5, 18.0)  # its economic & trade score


def test_correlations_are_published_and_charts_are_deterministic(catalog, tmp_path):
    corr = pd.read_parquet(catalog.dataset(2018, "correlations"))
    assert set(corr["measure"]) == {"pearson", "spearman", "cronbach_alpha"}
    assert len(corr[corr["measure"] == "pearson"]) == 29 * 28 // 2
    again = rebuild_report(catalog, 2018, tmp_path / "again").parent
    first = catalog.rebuilt_report(2018)
    docs = re.compile(r'href="[^"]*data_docs/index.html"')  # relative to where the report is
    for page in first.rglob("*.html"):
        rebuilt = (again / page.relative_to(first)).read_text()
        assert docs.sub("", page.read_text()) == docs.sub("", rebuilt), page
    manifest = json.loads(catalog.manifest(2018).read_text())
    assert manifest["row_counts"]["outputs"]["correlations"] == len(corr)


def test_city_pages_drawn_by_a_worker_are_the_same_bytes(catalog, tmp_path):
    """`coopindex run` draws the city pages in a second process (flows.workers): the report
    is the same, page for page, as one drawn in a single process."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tasks.report.pages import build_report

    data = report_data(catalog, 2018)
    build_report(data, tmp_path / "alone")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        build_report(data, tmp_path / "shared", workers=pool)
    alone = sorted(p.relative_to(tmp_path / "alone") for p in (tmp_path / "alone").rglob("*.html"))
    shared = sorted(p.relative_to(tmp_path / "shared") for p in (tmp_path / "shared").rglob("*.html"))
    assert alone == shared and len([p for p in alone if p.parts[0] == "cities"]) == 30
    for page in alone:
        assert (tmp_path / "alone" / page).read_bytes() == (tmp_path / "shared" / page).read_bytes(), page
