"""Convert trade values to CNY with the annual mean rate of the record's year and currency."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from tasks.quality.validation import Failure

if TYPE_CHECKING:
    from tasks.trade.file import FileIngest

_FX_RULE = "a currency with an FX rate"  # the trade_records suite's words for the fx_key rule


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


def missing_rates(fx: str, blocked: list[FileIngest]) -> list[Failure]:
    """The blocked files' failures, a year's missing rate said once as the fault of `fx` (the
    rates file): a rate absent for a whole month is not a bad month, each would fail every row."""
    missing: dict[str, list[tuple[str, int, int]]] = {}
    for result in blocked:
        for key, (line, rows) in result.missing_rates.items():
            missing.setdefault(key, []).append((result.label, line, rows))
    if not missing:
        return [f for r in blocked for f in r.blocking]
    failures = []
    for key, uses in sorted(missing.items()):
        year, currency = key.split(":")
        file, line, _ = uses[0]
        rows = sum(n for *_, n in uses)
        found = (
            f"no rate for {currency} in {year}, which {rows:,} row(s) of {len(uses)} trade file(s) use"
            f" (first {file}, line {line}): add the row '{year},{currency},<CNY per {currency}>' to {fx}"
        )
        expected = f"a rate for every currency and year of the trade records, in {fx}"
        failures.append(
            Failure(
                "fx_rates",
                "expect_column_values_to_be_in_set",
                None,
                "critical",
                rows,
                [],
                expected,
                found,
                file=fx,
            )  # fmt: skip
        )
    return failures + [f for r in blocked for f in r.blocking if not f.expected.startswith(_FX_RULE)]
