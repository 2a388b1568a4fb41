"""Each trade row beside the other months of its key: the frame the `trade_history` suite checks.

A row with extra zeros typed in can stay below the CNY ceiling of `trade_records` and still be
a thousand times what its city usually trades with that partner, in that flow and HS chapter.
A month file alone cannot tell (the ingest checks files one by one); the edition's trade years
can. The frame holds, per clean row of the store files an edition pins, how many other months
its key has in those years (`other_months`), their median in CNY (`median_other_months`) and
the row's multiple of it (`ratio`); the suite says which rows count and how far is too far.

Robust by design: the median of the *other* months, so that the wild row does not lift its own
yardstick, and one wild month does not move the yardstick of the others. Only the columns the
rule needs are read from the store's facts parts, text as categories: the sample's 602,490
records of 2016-2018 take about 33 MB, so memory grows with the edition's trade years' rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.trade.store import TradeView

DATASET = "trade_history"
HISTORY_KEY: tuple[str, ...] = ("reporter_city", "partner", "flow", "hs2")
READ_COLUMNS: tuple[str, ...] = ("source_file", "source_line", "period", *HISTORY_KEY, "value", "value_cny")


def history_frame(trade: TradeView) -> pd.DataFrame:
    """Every clean row of the view's files with its key's other months (see `with_history`)."""
    parts = sorted({part for year in trade.parts.values() for part in year})
    tables = [pq.read_table(part, columns=list(READ_COLUMNS)) for part in parts]
    numbers = {"source_line": "int64", "value": "float64", "value_cny": "float64"}
    # text as categories: a few thousand distinct codes over all rows (a third of the memory of str)
    text = {c: "category" for c in READ_COLUMNS if c not in numbers}
    if not tables:
        return with_history(
            pd.DataFrame({c: pd.Series(dtype="str") for c in READ_COLUMNS}).astype(numbers | text)
        )
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    return with_history(frame.astype(text))


def with_history(records: pd.DataFrame) -> pd.DataFrame:
    """`records` (fresh index) with `other_months`, `median_other_months` and `ratio` (`value_cny`
    over that median; missing when the key has no other month, infinite over a median of 0).

    A key's months are its periods: rows of one period (the same key in two files) are summed
    first. The median of the others is read off each key's sorted monthly values without the
    month itself, all keys at once."""
    frame = records.reset_index(drop=True)
    keys = [*HISTORY_KEY, "period"]
    month = frame.groupby(keys, sort=False, observed=True, dropna=False).ngroup().to_numpy()
    months = pd.DataFrame({"month": month, "value_cny": frame["value_cny"].to_numpy()})
    monthly = months.groupby("month", sort=True)["value_cny"].sum()
    first = frame.iloc[np.unique(month, return_index=True)[1]]  # a row of each month, in month order
    key = first.groupby(list(HISTORY_KEY), sort=False, observed=True, dropna=False).ngroup().to_numpy()
    values = monthly.to_numpy()
    order = np.lexsort((values, key))
    sorted_key, sorted_values = key[order], values[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    start, size = np.repeat(starts, sizes), np.repeat(sizes, sizes)
    rank = np.arange(len(order)) - start
    others = size - 1

    def other(j: np.ndarray) -> np.ndarray:
        """The j-th smallest of a month's other months (the month itself skipped)."""
        at = start + j + (j >= rank)
        return sorted_values[np.clip(at, 0, max(len(order) - 1, 0))]

    low, high = np.maximum((others - 1) // 2, 0), np.maximum(others // 2, 0)
    median = np.where(others > 0, (other(low) + other(high)) / 2, np.nan) if len(order) else np.empty(0)
    by_month_others, by_month_median = np.empty(len(order), "int64"), np.empty(len(order), "float64")
    by_month_others[order], by_month_median[order] = others, median
    frame["other_months"] = by_month_others[month]
    frame["median_other_months"] = by_month_median[month]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ratio"] = frame["value_cny"].to_numpy() / frame["median_other_months"].to_numpy()
    return frame
