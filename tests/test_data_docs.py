"""The Data Docs of a run stopped by one bad indicator row: real GX, real files, a real browser.

The run is the edition's own steps up to `record-validation`, in this process, on a copy of the
shipped raw/ with city code `ZZZ` at line 752 of `raw/indicators/interconnectivity.csv` (the
example of docs/contracts.md). The browser test skips like tests/test_report_browser.py.
"""

from __future__ import annotations

import multiprocessing
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from tasks.edition import checks
from tasks.edition.pipeline import EDITION, start
from tasks.quality import data_docs
from tasks.quality.docs_pages import MAX_SHOWN, merge
from tasks.quality.suites import load_suite
from tasks.quality.validation import DataValidationError, validate
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tasks.warehouse.publish import publish
from tests.browser import visit
from tests.conftest import seeded_warehouse
from tests.test_validation import PARAMETERS, SUITES, TRADE_FILE, trade_frame

BAD_FILE, BAD_LINE = "raw/indicators/interconnectivity.csv", 752
# Any element or stylesheet that would load from outside the site.
LOADS_FROM_OUTSIDE = re.compile(
    r"<(?:script|img|link|iframe|source)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//", re.I
)


@pytest.fixture(scope="module")
def stopped_run(shipped_store, tmp_path_factory) -> tuple[Catalog, dict]:
    """The edition's steps up to its report, on inputs with one bad indicator row."""
    root = tmp_path_factory.mktemp("data-docs")
    raw = root / "raw"
    shutil.copytree(PROJECT_ROOT / "raw", raw)
    path = raw / BAD_FILE.removeprefix("raw/")
    lines = path.read_text().splitlines()
    cells = lines[BAD_LINE - 1].split(",")
    cells[1] = "ZZZ"
    lines[BAD_LINE - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    catalog = Catalog.at(raw=raw, warehouse=seeded_warehouse(shipped_store, root / "warehouse"))
    return catalog, EDITION.between(last="record-validation").run(start(catalog, 2018))


@pytest.fixture(scope="module")
def site(stopped_run) -> Path:
    catalog, data = stopped_run
    return (catalog.warehouse / data["reports"]["data_docs"]).parent


def page_of(site: Path, file: str) -> Path:
    (page,) = site.glob(f"validations/*/*/*/{data_docs.page_name(file)}.html")
    return page


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_page_of_the_bad_file_counts_its_rows_as_the_rule_that_stopped_the_run(stopped_run, site):
    _, data = stopped_run
    (blocking,) = data["checked"].blocking
    assert "1 of 900 rows (0.111 %) of the file failed row-level checks" in blocking.describe()
    text = words(page_of(site, BAD_FILE).read_text())
    assert "1 unexpected values found. ≈0.1111% of 900 total rows." in text
    # The failing value with its file and line, in GX's own table of unexpected values.
    assert f"Unexpected Value Count source_file source_line ZZZ 1 {BAD_FILE} {BAD_LINE}" in text
    # One page per input file: the other indicator files passed, each with its own rows.
    pages = sorted(p.name for p in site.glob("validations/indicator_values/*/*/*.html"))
    files = PROJECT_ROOT.glob("raw/indicators/*.csv")
    assert pages == sorted(f"{data_docs.page_name(f'raw/indicators/{p.name}')}.html" for p in files)


def test_data_docs_handed_to_a_worker_are_written_before_a_stopped_run_raises(stopped_run, site):
    """`coopindex run` builds its Data Docs in a second process (flows.workers) and goes on
    scoring: a run that bad inputs stop waits for them before it raises (the worker is still
    importing GX when the check fails), and they are the pages the run's own process writes."""
    catalog, _ = stopped_run
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        data = start(catalog, 2018, workers=pool)
        with pytest.raises(DataValidationError):
            EDITION.between(last="check-inputs").run(data)
        built = data["data_docs"]
        assert built.building is not None and built.building.done() and built.index.is_file()
    other = built.index.parent
    assert other != site

    def pages(folder: Path) -> list[tuple[str, str]]:  # (suite, file) of each page
        return sorted(
            (p.parts[1], p.name)
            for p in (p.relative_to(folder) for p in folder.rglob("*.html"))
            if p.parts[0] == "validations"
        )

    assert pages(other) == pages(site) and len(pages(site)) > 10
    stamp = re.compile(r"\d{8}T\d{6}(\.\d+)?Z(-[0-9a-f]{8})?")  # run ids and run times
    for file in (BAD_FILE, "raw/reference/cities.csv"):
        written = [stamp.sub("*", words(page_of(folder, file).read_text())) for folder in (site, other)]
        assert written[0] == written[1], file
    assert f"ZZZ 1 {BAD_FILE} {BAD_LINE}" in words(page_of(other, BAD_FILE).read_text())


def test_no_page_loads_anything_from_outside_the_site(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        html = page.read_text()
        assert not LOADS_FROM_OUTSIDE.search(html), page
        assert not re.search(r"url\(\s*[\"']?(?:https?:)?//", html), page
    for name in ("jquery-3.7.1.min.js", "bootstrap-4.3.1.min.css", "bootstrap-table-1.19.1.min.js"):
        assert (site / "static" / "vendor" / name).is_file()


def test_the_failing_value_and_its_line_show_in_a_browser_offline(browser, site, tmp_path):  # noqa: F811
    shots = Path(tmp_path)
    index, errors, outside = visit(browser, (site / "index.html").as_uri(), shots / "index.png")
    # The index table is drawn and searched by bootstrap-table, from the shipped copy.
    pages = len(list(site.glob("validations/*/*/*/*.html")))
    assert index.get_by_text(f"Showing 1 to 10 of {pages} rows").first.is_visible()
    search = index.locator("input.search-input").first
    search.fill("interconnectivity")
    search.press("Enter")
    index.get_by_text("Showing 1 to 1 of 1 rows").first.wait_for(state="visible", timeout=10_000)
    assert index.get_by_role("cell", name=data_docs.page_name(BAD_FILE), exact=True).is_visible()
    index.screenshot(path=str(shots / "index-searched.png"), full_page=True)
    assert errors == [] and outside == []
    index.close()

    shot = shots / "bad-file.png"
    page, errors, outside = visit(browser, page_of(site, BAD_FILE).as_uri(), shot)
    assert errors == [] and outside == []
    # GX's table of unexpected values: value, count, file, line.
    for row in ("Unexpected Value Count source_file source_line", f"ZZZ 1 {BAD_FILE} {BAD_LINE}"):
        assert page.get_by_role("row", name=row, exact=True).is_visible(), row
    assert page.get_by_text("1 unexpected values found. ≈0.1111% of 900 total rows.").is_visible()
    assert shot.stat().st_size > 10_000
    page.close()


def test_data_docs_a_kept_manifest_links_to_survive_pruning(tmp_path):
    catalog = Catalog(warehouse=tmp_path / "warehouse")
    city = {"city_code": "NGB", "name_en": "Ningbo", "name_zh": "宁波", "province": "Zhejiang"}
    frame = pd.DataFrame([city | {"source_file": "raw/reference/cities.csv", "source_line": 2}])
    outcome = validate(frame, "cities", suites=catalog.expectations)
    spec = load_suite("cities", catalog.expectations)
    pages = [(spec, page, file) for file, page in outcome.pages]

    def run(run_id: str) -> dict[str, str]:
        return checks.write_report(catalog, run_id, pages, pd.DataFrame({"x": [1]}), pd.DataFrame())

    published = run("20240101T000000Z-00000000")
    publish(catalog, 2018, "v1", {"scores": frame[["city_code"]]}, {"validation": {"reports": published}})
    unreferenced = run("20240101T000001Z-00000001")
    later = [run(f"20240102T0000{i:02d}Z-0000000{i}") for i in range(data_docs.KEEP_RUNS + 1)]

    assert (catalog.warehouse / published["data_docs"]).is_file()  # linked from edition 2018's manifest
    assert not (catalog.warehouse / unreferenced["data_docs"]).exists()
    assert (catalog.warehouse / unreferenced["validation"]).is_file()  # a run's other files stay
    kept = [r for r in later if (catalog.warehouse / r["data_docs"]).is_file()]
    assert kept == later[-data_docs.KEEP_RUNS :]


def test_a_file_checked_in_batches_is_one_page_with_its_first_failing_rows(tmp_path):
    base = dict(period="2018-03", reporter_city="BJS", partner="POL", flow="export", currency="USD")
    rows = [dict(base, hs2=f"{i + 1:02d}", value=-1.0 if i % 2 else 1.0) for i in range(60)]
    frame = trade_frame(rows)  # 30 negative values, on the even lines 3, 5, ..., 61
    batches = [frame.iloc[:30], frame.iloc[30:]]
    outcomes = [validate(b, "trade_records", PARAMETERS, suites=SUITES) for b in batches]
    (file, first), (_, second) = outcomes[0].pages[0], outcomes[1].pages[0]
    page = merge([first, second])

    (negative,) = [r for r in page["results"] if not r["success"]]
    counts = negative["result"]
    assert (counts["element_count"], counts["unexpected_count"]) == (60, 30)
    assert counts["unexpected_percent"] == 50.0
    shown = counts["unexpected_index_list"]
    assert len(shown) == MAX_SHOWN == len(counts["partial_unexpected_list"])
    assert [(r["source_file"], r["source_line"], r["value"]) for r in shown] == [
        (TRADE_FILE, line, -1.0) for line in range(3, 3 + 2 * MAX_SHOWN, 2)
    ]
    assert page["statistics"]["unsuccessful_expectations"] == 1 and not page["success"]

    spec = load_suite("trade_records", SUITES)
    site = data_docs.build([(spec, page, file)], tmp_path / "r" / "data_docs", "r").parent
    text = words(page_of(site, file).read_text())
    assert "30 unexpected values found. 50% of 60 total rows." in text
    # GX groups the rows by value and lists the first ten lines of each.
    assert f"Sampled Unexpected Values Count source_file source_line -1.0 20 {TRADE_FILE}, " in text
    assert ", ... 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, ..." in text


def test_an_asset_gx_might_add_from_another_cdn_is_removed_and_known_ones_point_inside(tmp_path):
    site = tmp_path / "data_docs"
    page = site / "validations" / "s" / "page.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js" crossorigin="anonymous"></script>'
        '<script src="https://cdn.example.org/new-library.js"></script>'
        '<link rel="stylesheet" href="https://fonts.example.org/font.css">'
        '<img src="https://images.example.org/logo.png">'
        '<style>a { background: url("https://x.org/a.png") }</style>'
        '<a href="https://greatexpectations.io">GX</a>'
    )
    data_docs.localise(site)
    html = page.read_text()
    assert html == (
        '<link rel="stylesheet" href="../../static/vendor/bootstrap-4.3.1.min.css">'
        '<script src="../../static/vendor/jquery-3.7.1.min.js"></script>'
        '<style>a { background: none }</style><a href="https://greatexpectations.io">GX</a>'
    )
    assert (site / "static" / "vendor" / "jquery-3.7.1.min.js").read_bytes() == (
        data_docs.ASSETS / "jquery-3.7.1.min.js"
    ).read_bytes()
