"""A trade file's sums per year, month, city, partner and flow: what editions read instead of records.

Small (a few thousand rows a month however many records) and exact: summed values, the number
of rows, and the number with a positive value, from which "partners traded with" is rebuilt.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

AGGREGATE_COLUMNS = ("year", "month", "city_code", "partner", "flow", "value_cny", "rows", "positive_rows")


def aggregate(facts: pd.DataFrame) -> pd.DataFrame:
    """Sum per year, month, city, partner and flow (unsorted: `combine` sorts); rows with a
    positive value are counted so that partner counts ("partners traded with") can be rebuilt
    exactly from the sums.

    Grouped on one integer per row, made of the text columns' category codes, and summed with
    `np.bincount`: a pandas groupby on the five keys took ~100 bytes a row at a worker's peak,
    this takes ~50. A period stands for its year and month."""
    names = {"reporter_city": "city_code", "partner": "partner", "flow": "flow"}
    columns = [facts[c].astype("category").reset_index(drop=True) for c in ("period", *names)]
    group, bound = np.zeros(len(facts), dtype="int64"), 1
    for column in columns:
        size = len(column.cat.categories) + 1  # + 1: a missing value (code -1)
        if bound * size >= 1 << 62:  # the codes so far made dense again
            group = pd.factorize(group)[0].astype("int64")
            bound = int(group.max(initial=0)) + 1
        group *= size
        group += column.cat.codes.to_numpy()
        group += 1
        bound *= size
    inverse = pd.factorize(group)[0]
    del group
    groups = int(inverse.max(initial=-1)) + 1
    row = np.zeros(groups, dtype="int64")
    row[inverse] = np.arange(len(inverse))  # a row of each group
    values = facts["value_cny"].to_numpy()
    period = columns[0].iloc[row]
    out = pd.DataFrame(
        {"year": period_part(period, slice(0, 4)), "month": period_part(period, slice(5, 7))}
        | {
            name: column.iloc[row].astype("str").to_numpy()
            for column, name in zip(columns[1:], names.values(), strict=True)
        }
        | {
            "value_cny": np.bincount(inverse, weights=values, minlength=groups),
            "rows": np.bincount(inverse, minlength=groups).astype("int64"),
            "positive_rows": np.bincount(inverse[values > 0], minlength=groups).astype("int64"),
        }
    )
    return out.astype({"city_code": "str", "partner": "str", "flow": "str"})


def period_part(period: pd.Series, part: slice) -> np.ndarray:
    """The year (`slice(0, 4)`) or month (`slice(5, 7)`) of each `YYYY-MM` period as an int, -1
    where it is not a number; parsed once per distinct value, not per row."""
    period = period.astype("category")
    parsed = pd.to_numeric(period.cat.categories.str[part], errors="coerce").to_numpy(dtype="float64")
    per_code = np.append(np.nan_to_num(parsed, nan=-1), -1).astype("int64")  # the last: missing
    return per_code[period.cat.codes.to_numpy()]


def combine(aggregates: list[pd.DataFrame]) -> pd.DataFrame:
    """Partial aggregates summed into one, sorted by their key."""
    parts = [a for a in aggregates if len(a)]
    if not parts:
        return empty_aggregates()
    keys = list(AGGREGATE_COLUMNS[:5])
    out = (
        pd.concat(parts, ignore_index=True)
        .groupby(keys, sort=True, as_index=False)[["value_cny", "rows", "positive_rows"]]
        .sum()
    )
    return out.astype({"year": "int64", "month": "int64", "rows": "int64", "positive_rows": "int64"})


def empty_aggregates() -> pd.DataFrame:
    """No sums yet, with the columns and dtypes of any other aggregate."""
    dtypes = {"year": "int64", "month": "int64", "city_code": "str", "partner": "str", "flow": "str",
              "value_cny": "float64", "rows": "int64", "positive_rows": "int64"}  # fmt: skip
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
