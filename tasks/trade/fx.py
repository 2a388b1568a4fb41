"""Convert trade values to CNY with the annual mean rate of the record's year and currency."""

from __future__ import annotations

import pandas as pd


def fx_keys(fx_rates: pd.DataFrame) -> list[str]:
    """`"year:CUR"` keys of the rates on file; CNY is always known (rate 1)."""
    keys = {f"{y}:{c}" for y, c in zip(fx_rates["year"], fx_rates["currency"], strict=True)}
    keys |= {f"{y}:CNY" for y in fx_rates["year"].unique()}
    return sorted(keys)


def to_cny(records: pd.DataFrame, fx_rates: pd.DataFrame) -> pd.DataFrame:
    """Add `cny_per_unit` and `value_cny`; every record must find its rate (validated before)."""
    rates = fx_rates[["year", "currency", "cny_per_unit"]]
    cny = pd.DataFrame({"year": sorted(records["year"].unique()), "currency": "CNY", "cny_per_unit": 1.0})
    rates = pd.concat([rates[rates["currency"] != "CNY"], cny], ignore_index=True)
    out = records.merge(rates, on=["year", "currency"], how="left", validate="many_to_one")
    missing = out["cny_per_unit"].isna()
    if missing.any():
        row = out[missing].iloc[0]
        raise ValueError(
            f"{row['source_file']}, line {row['source_line']}, column 'currency': "
            f"no FX rate for {row['currency']} in {row['year']}"
        )
    out["value_cny"] = out["value"] * out["cny_per_unit"]
    return out
