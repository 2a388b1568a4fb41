"""Denominate: divide size-driven indicators by a size measure (GDP, population, area ...).

Without it a big country wins on every "total" indicator simply for being big. As COINr's
`Denominate`, the framework names each indicator's denominator column of the unit table (or
none); an indicator without one passes through unchanged. A zero or missing denominator
gives a missing value, never inf: "per unit of nothing" is not a measurement.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def _denominator_of(by: Mapping[str, str], indicator: str) -> str | None:
    """The denominator column named for `indicator`, or None ("", NaN, None or absent)."""
    column = by.get(indicator)
    if column is None or (isinstance(column, float) and np.isnan(column)) or column == "":
        return None
    return str(column)


def denominate(
    indicators: pd.DataFrame,
    denominators: pd.DataFrame,
    by: Mapping[str, str],
    scale: float | Mapping[str, float] = 1.0,
) -> pd.DataFrame:
    """indicator / denominator * scale for every indicator `by` names; others unchanged.

    `indicators` is units x indicators, `denominators` units x denominator columns (rows
    matched on the index). `scale` is one factor for all denominated indicators or one per
    indicator (absent = 1), e.g. 1000 to express per thousand inhabitants.
    """
    unknown = sorted(set(by) - set(indicators.columns))
    if unknown:
        raise ValueError(f"denominator given for indicators not in the data: {unknown}")
    named = {code: _denominator_of(by, code) for code in indicators.columns}
    named = {code: column for code, column in named.items() if column is not None}
    bad = [f"{code} -> {column!r}" for code, column in named.items() if column not in denominators.columns]
    if bad:
        raise ValueError(
            f"unknown denominator column: {', '.join(bad)}; known: {sorted(map(str, denominators.columns))}"
        )
    missing_units = indicators.index.difference(denominators.index)
    if named and len(missing_units):
        raise ValueError(f"no denominators for units: {sorted(map(str, missing_units))}")

    out = indicators.astype("float64")  # a copy; the input is never modified
    for code, column in named.items():
        factor = scale.get(code, 1.0) if isinstance(scale, Mapping) else scale
        divisor = denominators[column].reindex(indicators.index).astype("float64")
        divisor = divisor.where(divisor != 0)  # zero -> missing, so the ratio is NaN, not inf
        out[code] = out[code] / divisor * factor
    return out
