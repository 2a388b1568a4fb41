"""Whether the benchmark's sides computed the right aggregates, not only how fast.

Untimed, after the sides ran in `work`: our `city_year.parquet` against DuckDB over our clean
facts and over the raw rows minus those breaking the suite's rules; the floor's against DuckDB's
baseline (the same rows, neither validated). The sums come from `tasks.bench.baseline`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tasks.bench.baseline import compare_city_year, facts_city_year, rules_city_year
from tasks.bench.synthetic_trade import GeneratedTrade
from tasks.quality import load
from tasks.trade.membership import member_keys
from tasks.warehouse.catalog import Catalog


def check_aggregates(work: Path, generated: GeneratedTrade, threads: int | None) -> dict[str, Any]:
    """The three comparisons (`compare_city_year` each) and both sides' totals in bn CNY."""
    catalog = Catalog(raw=work / "raw")
    store = Catalog(warehouse=work / "warehouse").trade_store.resolve()  # a link to the published version
    ours = pd.read_parquet(store / "city_year.parquet")
    cities = load.read_csv(catalog.cities, load.CITIES)["city_code"]
    members = load.read_csv(catalog.ceec_members, load.CEEC_MEMBERS)
    by_rules = rules_city_year(
        catalog.raw, cities, member_keys(members, [generated.year]), [generated.year], threads
    )
    duckdb_all = pd.read_parquet(work / "duckdb" / "city_year.parquet")
    floor = pd.read_parquet(work / "floor" / "city_year.parquet")
    return {
        "ours_vs_facts": compare_city_year(ours, facts_city_year(store / "facts", threads)),
        "ours_vs_rules": compare_city_year(ours, by_rules)
        | {"rows_kept_by_rules": int(by_rules["records"].sum())},
        "floor_vs_duckdb": compare_city_year(floor, duckdb_all),
        "totals_bn_cny": {
            "ours": _total_bn(ours),
            "duckdb_all_rows": _total_bn(duckdb_all),
        },
    }


def _total_bn(city_year: pd.DataFrame) -> float:
    return float(city_year["exports_cny"].sum() + city_year["imports_cny"].sum()) / 1e9
