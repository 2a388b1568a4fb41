"""The report of any index scored by `coopindex score`: the edition report's pages for its units.

A methodologist scoring COINr's ASEM example (or any index) gets the same overview,
framework, indicator, robustness and unit pages as an edition. What only an edition has
(trade facts, earlier editions, the data-quality checks of a run) is left out, not faked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tasks.engine.correlation import node_correlations
from tasks.engine.framework import Framework
from tasks.engine.index import IndexStages
from tasks.engine.method import Method
from tasks.report.data import TABLES, EditionData, ReportData, Subject
from tasks.warehouse.manifest import git_commit

# The tables of the report keyed by units: the engine calls the unit column `unit`.
UNIT_TABLES = ("scores", "contributions", "strengths", "uncertainty", "screening")


def scored_data(
    stages: IndexStages,
    framework: Framework,
    method: Method,
    analysis: dict[str, pd.DataFrame],
    names: pd.Series,
    source: Path,
) -> ReportData:
    """What the report reads, from a scored index in memory (the same frames `score` writes)."""
    tables: dict[str, pd.DataFrame] = {**stages.reports, **analysis, "scores": stages.scores}
    tables = {
        name: table.rename(columns={"unit": "city_code"}) if name in UNIT_TABLES else table
        for name, table in tables.items()
    }
    if "correlations" not in tables:  # `score` computes them with its analysis
        tables["correlations"] = node_correlations(tables["scores"])
    index = stages.aggregated[framework.root]
    manifest: dict[str, Any] = {
        "edition": 0,
        "run_id": source.name,
        "method": {"name": method.name, "version": method.version},
        "git_commit": git_commit(),
        "summary": {"top": str(index.idxmax()), "cities": int(index.notna().sum())},
    }
    empty = pd.DataFrame()
    edition = EditionData(0, source, manifest, {name: tables.get(name, empty) for name in TABLES})
    units = pd.DataFrame({"city_code": names.index.astype("str"), "name_en": names.astype("str").to_numpy(),
                          "name_zh": ""})  # fmt: skip
    table = framework.table[["code", "name", "parent", "level", "weight"]].copy()
    table["name"] = table["name"].where(table["name"] != "", table["code"])
    root = table.loc[table["code"] == framework.root, "name"].iloc[0]
    subject = Subject(title=f"{root} · scored from {source.name}", unit="unit", units="units", kind="index")
    return ReportData(edition, (), table, units, method.results.top_n, subject)
