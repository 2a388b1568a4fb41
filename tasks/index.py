"""The index method end to end: raw indicator values -> normalised -> aggregated -> ranked.

Each stage is kept side by side (as COINr keeps `Raw`, `Normalised`, `Aggregated`) so a
user can see what every step did.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tasks.aggregate import aggregate
from tasks.framework import Framework
from tasks.method import Method
from tasks.normalise import normalise
from tasks.results import score_table


@dataclass(frozen=True)
class IndexStages:
    raw: pd.DataFrame  # units x indicators
    normalised: pd.DataFrame  # units x indicators
    aggregated: pd.DataFrame  # units x aggregate nodes (dimensions ..., index)
    scores: pd.DataFrame  # long: unit, node, level, parent, raw_value, score, rank, weight_in_index


def wide_values(
    values: pd.DataFrame, framework: Framework, units: list[str], unit: str = "city_code"
) -> pd.DataFrame:
    """Units x indicators from long `(unit, indicator, value)` rows; absent values are missing."""
    wide = values.pivot(index=unit, columns="indicator", values="value")
    return wide.reindex(index=pd.Index(units, name=unit), columns=framework.indicators).astype("float64")


def compute_index(raw: pd.DataFrame, framework: Framework, method: Method) -> IndexStages:
    normalised = normalise(
        raw, framework.column("direction"), method.normalise.method, method.normalise.range
    )
    aggregated = aggregate(normalised, framework, method.aggregate.method, method.aggregate.min_share)
    return IndexStages(raw, normalised, aggregated, score_table(raw, normalised, aggregated, framework))
