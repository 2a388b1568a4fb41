"""Every expectation's result as a table: what an edition and the trade store publish.

One row per expectation of each validated frame, with fixed columns and dtypes, so that the
``validation.parquet`` of every edition and trade file has the same schema, empty or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from tasks.quality.validation import SuiteOutcome

RESULT_COLUMNS: tuple[str, ...] = (
    "dataset",
    "expectation",
    "column",
    "severity",
    "success",
    "unexpected_count",
    "expected",
    "observed",
    "examples",
)


def results_table(outcomes: Iterable[SuiteOutcome]) -> pd.DataFrame:
    """One row per expectation with fixed columns and dtypes, so editions' Parquet files align."""
    rows = [r for o in outcomes for r in o.results]
    table = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return table.astype(
        {
            "dataset": "str",
            "expectation": "str",
            "column": "str",
            "severity": "str",
            "success": "bool",
            "unexpected_count": "int64",
            "expected": "str",
            "observed": "str",
            "examples": "str",
        }
    )


def merge_results(table: pd.DataFrame) -> pd.DataFrame:
    """Results of one suite over several frames (batches, files) as one row per expectation:
    failed if it failed anywhere, counts summed, the first observation and examples kept."""
    keys = ["dataset", "expectation", "column", "severity", "expected"]
    merged = table.groupby(keys, sort=False, as_index=False, dropna=False).agg(
        success=("success", "all"),
        unexpected_count=("unexpected_count", "sum"),
        observed=("observed", "first"),
        examples=("examples", lambda s: next((e for e in s if e), "")),
    )
    return merged[list(RESULT_COLUMNS)].astype(table[list(RESULT_COLUMNS)].dtypes.to_dict())
