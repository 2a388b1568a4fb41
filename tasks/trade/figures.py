"""Trade facts of each city with the CEEC, computed from customs records already in CNY.

These are the figures the evaluation quotes (volume, growth on the year before, share of
China's trade with the CEEC, imports against a base year) and the trade indicators of the
index are read straight off them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.engine.framework import FrameworkError

# Indicators the framework may mark as derived from trade, and the fact each one reads.
DERIVED_INDICATORS = {
    "trade_volume": "trade_bn_cny",
    "trade_growth": "trade_growth_pct",
    "trade_share": "trade_share_pct",
    "import_growth": "import_growth_ratio",
    "partner_countries": "partner_countries",
}


def city_year_totals(records: pd.DataFrame) -> pd.DataFrame:
    """Exports, imports and partner count per city and year (records need `value_cny`)."""
    flows = (
        records.pivot_table(
            index=["reporter_city", "year"], columns="flow", values="value_cny", aggfunc="sum", fill_value=0.0
        )
        .reindex(columns=["export", "import"], fill_value=0.0)
        .rename(columns={"export": "exports_cny", "import": "imports_cny"})
    )
    traded = records[records["value_cny"] > 0]
    partners = traded.groupby(["reporter_city", "year"])["partner"].nunique().rename("partner_countries")
    out = flows.join(partners, how="left").fillna({"partner_countries": 0}).reset_index()
    out.columns.name = None
    return out.rename(columns={"reporter_city": "city_code"})


def city_trade(
    totals: pd.DataFrame,
    national_trade: pd.DataFrame,
    city_codes: list[str],
    edition: int,
    import_base_lag: int,
    years_on_file: set[int] | None = None,
) -> pd.DataFrame:
    """One row per city for `edition`: volume, growth, national share, imports vs base, partners.

    `totals` holds exports, imports and partners per city and year (`city_year_totals` of the
    records, or the trade store's `city_year`); `years_on_file` the years with records (default:
    the years in `totals`). Cities without records in a year traded nothing that year. Growth is
    missing when the year before had no trade, the import ratio when the base year had no
    imports, and both when the records do not reach back that far.
    """
    base_year = edition - import_base_lag
    years_on_file = set(totals["year"].unique()) if years_on_file is None else set(years_on_file)
    grid = pd.MultiIndex.from_product(
        [city_codes, [edition, edition - 1, base_year]], names=["city_code", "year"]
    )
    totals = (
        totals.set_index(["city_code", "year"])
        .reindex(grid.drop_duplicates(), fill_value=0.0)
        .assign(trade_cny=lambda d: d["exports_cny"] + d["imports_cny"])
    )
    this = totals.xs(edition, level="year")
    prev = totals.xs(edition - 1, level="year")
    base = totals.xs(base_year, level="year")
    national = national_trade.groupby("year")["value_cny"].sum()

    out = pd.DataFrame(index=pd.Index(city_codes, name="city_code"))
    out["edition"] = edition
    out["exports_cny"] = this["exports_cny"]
    out["imports_cny"] = this["imports_cny"]
    out["trade_cny"] = this["trade_cny"]
    out["trade_bn_cny"] = out["trade_cny"] / 1e9
    out["trade_prev_cny"] = prev["trade_cny"] if edition - 1 in years_on_file else np.nan
    out["trade_growth_pct"] = _ratio(out["trade_cny"], out["trade_prev_cny"]).sub(1).mul(100)
    out["national_cny"] = national.get(edition, np.nan)
    out["trade_share_pct"] = out["trade_cny"] / out["national_cny"] * 100
    out["prev_share_pct"] = out["trade_prev_cny"] / national.get(edition - 1, np.nan) * 100
    out["base_year"] = base_year
    out["imports_base_cny"] = base["imports_cny"] if base_year in years_on_file else np.nan
    out["import_growth_ratio"] = _ratio(out["imports_cny"], out["imports_base_cny"])
    out["partner_countries"] = this["partner_countries"].astype("int64")
    return out.reset_index()


def trade_indicators(city_trade_facts: pd.DataFrame, codes: list[str]) -> pd.DataFrame:
    """Long indicator values (city_code, indicator, value, source) for the derived `codes`."""
    unknown = sorted(set(codes) - set(DERIVED_INDICATORS))
    if unknown:
        raise FrameworkError(
            f"framework marks {unknown} as derived from trade, but trade derives only "
            f"{sorted(DERIVED_INDICATORS)}"
        )
    frames = [
        pd.DataFrame(
            {
                "year": city_trade_facts["edition"],
                "city_code": city_trade_facts["city_code"],
                "indicator": code,
                "value": city_trade_facts[DERIVED_INDICATORS[code]].astype("float64"),
                "source": "derived:trade_records",
            }
        )
        for code in codes
    ]
    return pd.concat(frames, ignore_index=True)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, missing (not infinite) where the denominator is 0 or missing."""
    return numerator / denominator.where(denominator > 0)


def city_year(aggregates: pd.DataFrame) -> pd.DataFrame:
    """Exports, imports and partners traded with per city and year, from the file aggregates."""
    flows = aggregates.pivot_table(
        index=["year", "city_code"], columns="flow", values="value_cny", aggfunc="sum", fill_value=0.0
    ).reindex(columns=["export", "import"], fill_value=0.0)
    per_partner = aggregates.groupby(["year", "city_code", "partner"])["positive_rows"].sum()
    partners = (per_partner > 0).groupby(level=["year", "city_code"]).sum().rename("partner_countries")
    out = pd.DataFrame({"exports_cny": flows["export"], "imports_cny": flows["import"]}).join(
        partners, how="left"
    )
    out = out.fillna({"partner_countries": 0}).astype({"partner_countries": "int64"}).reset_index()
    out.columns.name = None
    return out[["year", "city_code", "exports_cny", "imports_cny", "partner_countries"]]
