"""The edition's Excel workbook: what the published edition carries, and what `coopindex export` writes."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from itertools import islice
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from tasks.report.workbook import write_workbook
from tasks.report.workbook_sheets import SHEETS
from tasks.warehouse.catalog import EDITION_DATASETS, PROJECT_ROOT, Catalog
from tests.conftest import copy_warehouse


@pytest.fixture(scope="module")
def catalog(published_2018, tmp_path_factory) -> Catalog:
    """A copy of the published 2018 edition, which the export may write beside."""
    return Catalog(warehouse=copy_warehouse(published_2018[0], tmp_path_factory.mktemp("wb") / "warehouse"))


@pytest.fixture(scope="module")
def exported(catalog) -> Path:
    """The workbook `coopindex export` writes, as a user runs it."""
    target = catalog.warehouse.parent / "out" / "edition-2018.xlsx"
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "export", "--edition", "2018", "--xlsx", str(target),
         "--warehouse", str(catalog.warehouse)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return target


@pytest.fixture(scope="module")
def book(catalog) -> openpyxl.Workbook:
    """The workbook the published edition carries, read back."""
    return openpyxl.load_workbook(catalog.workbook(2018))


def rows(sheet) -> list[tuple]:
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def test_the_edition_carries_its_workbook_beside_unchanged_datasets(catalog, book):
    folder = catalog.edition_dir(2018)
    expected = {f"{name}.parquet" for name in EDITION_DATASETS} | {
        "manifest.json",
        "edition-2018.xlsx",
        "report",
    }
    assert {p.name for p in folder.iterdir()} == expected
    assert book.sheetnames == list(SHEETS)
    for sheet in book.worksheets:
        assert sheet.freeze_panes and sheet.freeze_panes.endswith("2"), sheet.title  # header row frozen
        assert sheet.auto_filter.ref.startswith("A1:"), sheet.title
        assert all(cell.font.b for cell in sheet[1]), sheet.title


def test_ningbo_ranks_first_with_its_chinese_name(catalog, book):
    ranking = book["ranking"]
    header, first = [c.value for c in ranking[1]], [c for c in ranking[2]]
    assert header[:5] == ["rank", "city_code", "city_name", "name_zh", "index"]
    assert len(header) == 5 + 5  # the five dimensions
    assert [c.value for c in first[:4]] == [1, "NGB", "Ningbo", "宁波"]
    assert round(first[4].value, 4) == 69.3453 and first[4].number_format == "0.0000"
    assert ranking.freeze_panes == "E2"  # rank and city stay in view
    assert ranking.max_row == 1 + 30


def test_the_sheets_hold_the_datasets_values_and_formats(catalog, book):
    indicators = pd.DataFrame(rows(book["indicators"])[1:], columns=rows(book["indicators"])[0])
    values = pd.read_parquet(catalog.dataset(2018, "indicator_values"))
    assert len(indicators) == len(values)
    scores = pd.read_parquet(catalog.dataset(2018, "scores")).set_index(["city_code", "node"])
    ningbo = indicators.set_index(["city_code", "indicator"]).loc[("NGB", "trade_volume")]
    assert ningbo["value"] == pytest.approx(24.36)
    assert ningbo["normalised"] == pytest.approx(scores.loc[("NGB", "trade_volume"), "score"])
    trade = book["city_trade"]
    header = [c.value for c in trade[1]]
    money, pct = (
        trade.cell(2, header.index("trade_cny") + 1),
        trade.cell(2, header.index("trade_share_pct") + 1),
    )
    assert money.number_format == "#,##0" and pct.number_format == '0.00" %"'
    assert book["scores"].max_row == 1 + len(scores)
    assert trade.column_dimensions["A"].width >= 8


def test_the_export_writes_the_workbook_the_edition_carries(catalog, book, exported):
    again = openpyxl.load_workbook(exported)
    assert again.sheetnames == book.sheetnames
    assert all(rows(again[name]) == rows(book[name]) for name in book.sheetnames)
    assert exported.read_bytes() == catalog.workbook(2018).read_bytes()  # fixed dates: the same bytes


def test_quarantined_rows_are_listed_with_file_line_column_and_value(catalog, tmp_path):
    folder = tmp_path / "edition"
    shutil.copytree(
        catalog.edition_dir(2018), folder, ignore=shutil.ignore_patterns("trade_facts.*", "*.xlsx")
    )
    quarantine = pd.read_parquet(folder / "quarantine.parquet")
    row = {"dataset": "trade_records", "file": "raw/trade/2018/2018-04.csv", "line": 9, "column": "value",
           "value": "=-5", "expectation": "expect_column_values_to_be_between", "expected": "a value >= 0",
           "severity": "critical", "edition": 2018}  # fmt: skip
    pd.DataFrame([row]).astype(quarantine.dtypes.to_dict()).to_parquet(folder / "quarantine.parquet")
    written = write_workbook(catalog, 2018, folder, tmp_path / "bad.xlsx")
    sheet = openpyxl.load_workbook(written)["quarantine"]
    header, listed = rows(sheet)
    assert dict(zip(header, listed, strict=True)) | {"edition": 2018} == row  # text, not a formula
    assert sheet.auto_filter.ref == "A1:I2"


@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice is not installed")
def test_libreoffice_opens_it(catalog, tmp_path):
    utf8_csv = "csv:Text - txt - csv (StarCalc):44,34,76,1"
    done = subprocess.run(
        ["soffice", "--headless", "--norestore", f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}",
         "--convert-to", utf8_csv, "--outdir", str(tmp_path), str(catalog.workbook(2018))],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    ranking = tmp_path / "edition-2018.csv"  # the first sheet
    assert done.returncode == 0 and ranking.exists(), done.stdout + done.stderr
    first = next(islice(csv.reader(ranking.open(encoding="utf-8")), 1, None))
    assert first[:5] == ["1", "NGB", "Ningbo", "宁波", "69.3453"]  # read, and shown to 4 decimals
