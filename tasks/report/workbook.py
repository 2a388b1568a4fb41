"""An edition as one Excel workbook, for analysts who work in Excel or LibreOffice rather than Parquet.

`write_workbook` reads an edition folder (the published `edition=N/`, or the version being
staged) and writes `edition-N.xlsx`: one sheet per table of `tasks.report.workbook_sheets`,
each with a frozen, filterable header, number formats and column widths set. XlsxWriter writes
it: a package made for writing, whose output Excel opens without a repair prompt when no cell
holds NaN or infinity (they are left empty here) and no text is taken for a formula or a link.
The file's creation date is fixed and XlsxWriter dates the zip entries 1980-01-01, so the same
edition gives the same bytes. No Prefect: the edition pipeline's `write-workbook` step and
`coopindex export` both call it.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pandas as pd
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from tasks.report.workbook_sheets import sheet_tables
from tasks.warehouse.catalog import Catalog

# A constant creation date: the file's only timestamp, fixed so that reruns give the same bytes.
CREATED = datetime(2019, 6, 1)
MIN_WIDTH, MAX_WIDTH = 6, 60
PREVIEW_ROWS = 2000  # text widths are measured on at most this many rows of a column

# Excel number formats, and how a value looks in each (to size the column).
FORMATS: dict[str, tuple[str, str]] = {
    "score": ("0.0000", "{:.4f}"),
    "money": ("#,##0", "{:,.0f}"),
    "billions": ("#,##0.00", "{:,.2f}"),
    "percent_points": ('0.00" %"', "{:.2f} %"),  # values already times 100 (`*_pct`)
    "share": ("0.0%", "{:.1%}"),  # values 0-1
    "ratio": ("0.000", "{:.3f}"),
    "rank_quantile": ("0.0", "{:.1f}"),
    "value": ("#,##0.00", "{:,.2f}"),
    "integer": ("0", "{:.0f}"),
    "general": ("General", "{:.10g}"),
}
SCORE_COLUMNS = {"score", "normalised", "contribution"}
SHARE_COLUMNS = {"availability", "weight_in_index"}
RATIO_COLUMNS = {"import_growth_ratio", "mean_abs_shift", "S1", "S1_conf", "ST", "ST_conf"}
RANK_QUANTILES = {"median_rank", "q05", "q95"}


def number_kind(column: str, dtype: object, score_columns: set[str]) -> str | None:
    """The format of a numeric column, by what its name says it holds; None for text and booleans."""
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return None
    if column in SCORE_COLUMNS or column in score_columns:
        return "score"
    if column == "trade_bn_cny":
        return "billions"
    if column.endswith("_cny"):
        return "money"
    if column.endswith("_pct"):
        return "percent_points"
    if column in SHARE_COLUMNS:
        return "share"
    if column in RATIO_COLUMNS or column.startswith(("skew_", "kurtosis_")):
        return "ratio"
    if column in RANK_QUANTILES:
        return "rank_quantile"
    if column in ("value", "raw_value"):
        return "value"
    return "integer" if pd.api.types.is_integer_dtype(dtype) else "general"


def display_width(text: str) -> int:
    """Columns a text takes on screen: East Asian wide characters (city names in Chinese) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def column_width(header: str, values: pd.Series, kind: str | None) -> float:
    """Wide enough for the header (and its filter button) and the widest value shown, within limits."""
    widest = 0
    present = values.dropna()
    if kind is not None and len(present):
        shown = FORMATS[kind][1]
        widest = max(len(shown.format(float(v))) for v in (present.min(), present.max()))
    elif len(present):
        widest = max(display_width(str(v)) for v in present.head(PREVIEW_ROWS))
    return float(min(MAX_WIDTH, max(MIN_WIDTH, display_width(header) + 3, widest + 2)))


def frozen_columns(table: pd.DataFrame) -> int:
    """Keep the city (code and names) in view when scrolling right; else the first column."""
    return table.columns.get_loc("name_zh") + 1 if "name_zh" in table else min(1, len(table.columns))


def write_sheet(book: xlsxwriter.Workbook, name: str, table: pd.DataFrame, score_columns: set[str]) -> None:
    """One table as a sheet: header row frozen and filterable, typed cells, formats and widths."""
    sheet: Worksheet = book.add_worksheet(name)
    header = book.add_format({"bold": True, "bg_color": "#DCE6F1", "bottom": 1, "valign": "top"})
    for col, column in enumerate(table.columns):
        values = table[column]
        kind = number_kind(column, values.dtype, score_columns)
        style = book.add_format({"num_format": FORMATS[kind][0]}) if kind else None
        sheet.set_column(col, col, column_width(column, values, kind), style)
        sheet.write_string(0, col, column, header)
        if kind is not None:
            numbers = values.to_numpy(dtype="float64", na_value=math.nan)
            for row, number in enumerate(numbers, start=1):
                if math.isfinite(number):  # Excel has no NaN or infinity: an empty cell
                    sheet.write_number(row, col, number, style)
        elif pd.api.types.is_bool_dtype(values.dtype):
            for row, flag in enumerate(values, start=1):
                if not pd.isna(flag):
                    sheet.write_boolean(row, col, bool(flag))
        else:
            for row, text in enumerate(values, start=1):
                if not pd.isna(text) and str(text) != "":
                    sheet.write_string(row, col, str(text))  # never a formula or a link
    sheet.freeze_panes(1, frozen_columns(table))
    sheet.autofilter(0, 0, len(table), len(table.columns) - 1)


def workbook_bytes(tables: Mapping[str, pd.DataFrame], edition: int, score_columns: set[str]) -> bytes:
    """The tables as an XLSX file, in memory (the same tables give the same bytes)."""
    buffer = io.BytesIO()
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    book = xlsxwriter.Workbook(buffer, options)
    book.set_properties(
        {
            "title": f"China-CEEC cooperation index, edition {edition}",
            "subject": f"The datasets of warehouse/edition={edition} (docs/warehouse.md)",
            "author": "coopindex",
            "created": CREATED,
        }
    )
    book.set_calc_mode("auto")
    for name, table in tables.items():
        write_sheet(book, name, table, score_columns)
    book.close()
    return buffer.getvalue()


def write_workbook(catalog: Catalog, edition: int, folder: Path, target: Path) -> Path:
    """Write the workbook of the edition in `folder` to `target`, whole or not at all."""
    tables = sheet_tables(folder, catalog)
    framework = tables["framework"]
    score_columns = set(framework.loc[framework["level"] >= 2, "code"])
    data = workbook_bytes(tables, edition, score_columns)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


def stage_workbook(catalog: Catalog, edition: int, version: Path) -> Path:
    """The pipeline step: the workbook into the staged version, published with it or not at all."""
    try:
        return write_workbook(catalog, edition, version, catalog.workbook(edition, version))
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)  # as publishing does: no half-staged version left
        raise
