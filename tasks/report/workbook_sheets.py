"""The tables of an edition's workbook, one per sheet, from the Parquet files of an edition folder.

Pure pandas: `tasks.report.workbook` turns them into sheets. Every table keeps its dataset's
column names (a reader can move between the workbook, the Parquet files and docs/warehouse.md),
adds the city's English and Chinese names beside its code, and keeps the dataset's row order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.engine.framework import Framework
from tasks.engine.results import top_table
from tasks.quality import load
from tasks.warehouse.catalog import Catalog

# Sheet name -> the dataset it shows (None: built from several), in workbook order.
SHEETS: dict[str, str | None] = {
    "ranking": None,
    "scores": "scores",
    "indicators": None,
    "city_trade": "city_trade",
    "contributions": "contributions",
    "strengths": "strengths",
    "uncertainty": "uncertainty",
    "sensitivity": "sensitivity",
    "screening": "screening",
    "treatment": "treatment",
    "validation": "validation",
    "quarantine": "quarantine",
    "framework": None,
}
# Datasets only some method files produce: their sheets are left out when the file is.
OPTIONAL = ("uncertainty", "sensitivity")


def read_dataset(folder: Path, name: str) -> pd.DataFrame | None:
    """One dataset of an edition folder (published or staged), None when the edition has none."""
    path = Catalog.dataset_in(folder, name)
    return pd.read_parquet(path) if path.exists() else None


def chinese_names(catalog: Catalog) -> pd.Series:
    """`name_zh` by city code from `cities.csv`; empty when the file or the column is missing."""
    if not catalog.cities.exists():
        return pd.Series(dtype="str")
    cities = pd.read_csv(catalog.cities, dtype="str", keep_default_na=False, encoding="utf-8")
    if "name_zh" not in cities or "city_code" not in cities:
        return pd.Series(dtype="str")
    names = cities.set_index("city_code")["name_zh"].str.strip()
    return names[names != ""]


def framework_table(catalog: Catalog) -> pd.DataFrame:
    """The framework as the edition's contract reads it (method settings columns included)."""
    table = load.read_csv(catalog.framework, load.FRAMEWORK, optional=load.FRAMEWORK_SETTINGS)
    return table.drop(columns=["source_file", "source_line"])


def with_names(
    table: pd.DataFrame, english: pd.Series, chinese: pd.Series, key: str = "city_code"
) -> pd.DataFrame:
    """`table` with `city_name` and `name_zh` right after its city code column."""
    table = table.drop(columns=[c for c in ("city_name", "name_zh") if c in table])
    at = table.columns.get_loc(key) + 1
    table.insert(at, "city_name", table[key].map(english).astype("str"))
    table.insert(at + 1, "name_zh", table[key].map(chinese).astype("str"))
    return table


def ranking(scores: pd.DataFrame, framework: Framework, chinese: pd.Series) -> pd.DataFrame:
    """Every scored city: rank, names, the index and the five dimension scores, best first."""
    table = top_table(scores, framework, scores["city_code"].nunique())
    english = table.set_index("city_code")["city_name"]
    return with_names(table, english, chinese)


def indicators(values: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Each indicator value used, beside its normalised score and rank (null for an unscored city)."""
    normalised = scores.loc[scores["level"] == 1, ["city_code", "node", "score", "rank"]].rename(
        columns={"node": "indicator", "score": "normalised"}
    )
    table = values.merge(normalised, on=["city_code", "indicator"], how="left", validate="one_to_one")
    order = ["year", "city_code", "indicator", "unit", "value", "normalised", "rank", "source", "origin"]
    return table[[*order, *[c for c in table.columns if c not in order]]]


def sheet_tables(folder: Path, catalog: Catalog) -> dict[str, pd.DataFrame]:
    """The workbook's tables by sheet name, in sheet order, from an edition folder."""
    framework_rows = framework_table(catalog)
    framework = Framework.from_table(framework_rows[list(load.FRAMEWORK)])
    data = {name: read_dataset(folder, name) for name in dict.fromkeys(v for v in SHEETS.values() if v)}
    data["indicator_values"] = read_dataset(folder, "indicator_values")
    missing = [n for n, t in data.items() if t is None and n not in OPTIONAL]
    if missing:
        raise FileNotFoundError(f"{folder} is not a complete edition: no {', '.join(missing)}")
    chinese = chinese_names(catalog)
    english = data["city_trade"].set_index("city_code")["city_name"]  # every city of cities.csv
    scores = data["scores"]
    tables: dict[str, pd.DataFrame] = {}
    for sheet, dataset in SHEETS.items():
        if sheet == "ranking":
            tables[sheet] = ranking(scores, framework, chinese)
        elif sheet == "indicators":
            tables[sheet] = with_names(indicators(data["indicator_values"], scores), english, chinese)
        elif sheet == "framework":
            tables[sheet] = framework_rows
        elif (table := data[dataset]) is not None:
            key = "unit" if sheet == "screening" else "city_code"
            tables[sheet] = with_names(table, english, chinese, key) if key in table else table
    return tables
