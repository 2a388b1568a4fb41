"""Validate large frames fast: GX judges each text column's distinct values, not its rows.

`tasks.quality.validation.validate` runs a suite on the whole frame. A GX run costs about rows x
columns of its frame (GX fingerprints each batch: an MD5 of every cell, twice per run) plus a
pass over the rows per expectation, so 1.2 M customs rows x 21 checks take seconds. Yet most
checks (not null, in set, regex, between ...) judge each value on its own, and customs text
columns hold a few hundred distinct values among millions of rows. So:

* Such *value-local* checks on a text column (str, object or category) with few distinct
  values (at most ``max_share`` of the rows) run once, together, on a small frame holding each
  column's distinct values; every failing value is mapped back to the rows that hold it.
  Checks that read only the frame's schema run there too: it has every column, with its dtype.
* The rest (dtype checks, uniqueness, ``mostly``, row conditions, many-valued columns) runs
  on the rows, of only the columns it reads; a compound key's text columns become categoricals
  there (the same values from the codes above: the same duplicates, cheaper to compare).
* Neither run fingerprints its frame: of a frame built here, the fingerprint names nothing.

GX still evaluates every expectation, only on another frame, so the outcome (results,
failures, failed rows) is `validate`'s; tests/test_distinct.py holds the two to that. A check
that GX cannot run on the distinct values (an error) is run again on the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tasks.quality.docs_pages import restate_counts
from tasks.quality.runner import error_message, failing_positions, run_suite, without_row_lists
from tasks.quality.suites import expectation_columns, is_map_expectation
from tasks.quality.validation import SuiteOutcome, prepare, suite_outcome

if TYPE_CHECKING:
    from collections.abc import Mapping

    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

# A text column is judged on its distinct values when they are at most this share of its rows.
MAX_SHARE = 0.1
# GX column map expectations whose verdict on a value depends on that value alone.
VALUE_LOCAL = frozenset(
    f"expect_column_{name}"
    for name in (
        "values_to_not_be_null",
        "values_to_be_null",
        "values_to_be_in_set",
        "values_to_not_be_in_set",
        "values_to_be_between",
        "values_to_match_regex",
        "values_to_not_match_regex",
        "values_to_match_regex_list",
        "values_to_not_match_regex_list",
        "value_lengths_to_be_between",
        "value_lengths_to_equal",
        "values_to_match_strftime_format",
        "values_to_be_dateutil_parseable",
        "values_to_be_json_parseable",
        "values_to_match_json_schema",
    )
)
# Table expectations that read the column names (and dtypes) only, never a value.
SCHEMA = frozenset(
    {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
        "expect_column_to_exist",
    }
)
_COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"


@dataclass(frozen=True)
class Distinct:
    """A text column's distinct values and, for every row, which of them it holds."""

    values: pd.Series  # in the column's dtype; missing last when some row lacks a value
    codes: np.ndarray  # per row, its value's code (a category's, or factorize's); -1: missing
    value_codes: np.ndarray  # the code of each of `values`
    missing: int  # how many rows lack a value

    @classmethod
    def of(cls, column: pd.Series, max_share: float) -> Distinct | None:
        """The column's distinct values, or None unless it is text with few distinct values."""
        if not pd.api.types.is_string_dtype(column):
            return None
        if isinstance(column.dtype, pd.CategoricalDtype):  # the work is done: count the codes
            codes = column.cat.codes.to_numpy()
            counts = np.bincount(codes.astype(np.intp) + 1, minlength=len(column.cat.categories) + 1)
            value_codes, missing = np.flatnonzero(counts[1:]), int(counts[0])
            values = pd.Series(pd.Categorical.from_codes(value_codes, dtype=column.dtype))
        else:
            codes, uniques = pd.factorize(column)
            value_codes, missing = np.arange(len(uniques)), int(np.count_nonzero(codes < 0))
            values = pd.Series(uniques)  # keeps the dtype: str, string or object
        if len(values) + bool(missing) > max_share * len(column):
            return None
        if missing:
            values = values.reindex([*range(len(values)), -1]).reset_index(drop=True)
            value_codes = np.append(value_codes, -1)
        return cls(values, codes, value_codes, missing)

    def categorical(self) -> pd.Categorical:
        """A text column as a categorical: the same values, missing where they are."""
        present = self.values.iloc[: len(self.values) - bool(self.missing)]
        return pd.Categorical.from_codes(self.codes, categories=pd.Index(present), validate=False)

    def rows(self, failing: np.ndarray) -> np.ndarray:
        """The rows holding the values at ``failing`` in the distinct frame (past `values`: padding)."""
        flags = np.zeros(self.value_codes.max(initial=-1) + 2, dtype=bool)  # the last for -1
        flags[self.value_codes[np.where(failing < len(self.values), failing, 0)]] = True
        return np.flatnonzero(flags[self.codes])


def validate_distinct(
    df: pd.DataFrame,
    dataset: str,
    parameters: Mapping[str, Any] | None = None,
    max_share: float = MAX_SHARE,
    *,
    suites: Path,
) -> SuiteOutcome:
    """`validate(df, dataset, parameters, suites=suites)`, running value-local checks on distinct values.

    ``gx_result`` is one GX suite result with every expectation, in suite order: GX's result
    on the rows, or on the distinct values with its counts restated in rows (so they are
    `validate`'s); its meta is the row run's (the distinct run's if nothing ran on rows).
    """
    expectations, values, frame = prepare(df, dataset, suites, parameters)
    local = {i: c for i, exp in enumerate(expectations) if (c := _value_local_column(exp, frame))}
    distinct = {c: d for c in dict.fromkeys(local.values()) if (d := Distinct.of(frame[c], max_share))}
    on_values = [i for i, e in enumerate(expectations) if e["type"] in SCHEMA or local.get(i) in distinct]
    found = run_suite(_distinct_frame(frame, distinct), dataset, expectations, on_values, values, False)

    located: dict[int, ExpectationValidationResult] = {}
    positions: dict[int, np.ndarray] = {}
    for i in on_values:
        result, column = found.results[i], distinct.get(local.get(i))
        failing = failing_positions(result)
        if error_message(result) or (column is not None and failing is None and not result.success):
            continue  # run again on the rows, so that GX reports on the real frame
        if column is not None:
            rows = column.rows(failing) if failing is not None else np.empty(0, dtype=np.int64)
            if len(rows):
                positions[i] = rows
            _restate_in_rows(result, len(frame), column.missing, len(rows))
        located[i] = result

    on_rows = [i for i in range(len(expectations)) if i not in located]
    slim = _row_frame(frame, [expectations[i] for i in on_rows], distinct)
    ran = run_suite(slim, dataset, expectations, on_rows, values, False)
    for i in on_rows:
        located[i] = ran.results[i]
        if (failing := failing_positions(ran.results[i])) is not None:
            positions[i] = failing
    gx_result = _merged(located, ran.suite if ran.suite is not None else found.suite)
    return suite_outcome(dataset, frame, expectations, located, positions, gx_result)


def _value_local_column(exp: Mapping[str, Any], frame: pd.DataFrame) -> str | None:
    """The column of a value-local check on all rows of a column of ``frame``, else None."""
    kwargs = exp.get("kwargs") or {}
    if exp["type"] not in VALUE_LOCAL or kwargs.get("row_condition") or kwargs.get("mostly", 1) != 1:
        return None
    column = kwargs.get("column")
    return column if column in frame.columns else None


def _distinct_frame(frame: pd.DataFrame, distinct: Mapping[str, Distinct]) -> pd.DataFrame:
    """Every column of ``frame``: the distinct ones with their values, padded to one length
    with their first value; the others with their first row (only their dtype matters)."""
    length = max((len(d.values) for d in distinct.values()), default=min(len(frame), 1))

    def padded(values: pd.Series) -> pd.Series:
        take = np.zeros(length, dtype=np.intp)
        take[: len(values)] = np.arange(len(values))
        return values.iloc[take].reset_index(drop=True)

    return pd.DataFrame(
        {c: padded(distinct[c].values if c in distinct else frame[c].iloc[:1]) for c in frame.columns}
    )


def _row_frame(
    frame: pd.DataFrame, expectations: list[dict], distinct: Mapping[str, Distinct]
) -> pd.DataFrame:
    """``frame`` with only the columns ``expectations`` read (all for table-level ones and row
    conditions); a compound key's text columns that nothing else reads as categoricals."""
    if any(not is_map_expectation(e["type"]) or e["kwargs"].get("row_condition") for e in expectations):
        return frame
    reads = [(e["type"], expectation_columns(e["kwargs"])) for e in expectations]
    keys = {c for kind, names in reads if kind == _COMPOUND_UNIQUE for c in names}
    read = {c for kind, names in reads if kind != _COMPOUND_UNIQUE for c in names}
    # The same values and missing values, so the same duplicates; cheaper to hash and compare.
    text = {c for c in keys - read if c in distinct and not isinstance(frame[c].dtype, pd.CategoricalDtype)}
    columns = {
        c: distinct[c].categorical() if c in text else frame[c] for c in frame.columns if c in keys | read
    }
    return pd.DataFrame(columns, copy=False)  # copy-on-write: GX cannot change ``frame``


def _restate_in_rows(result: ExpectationValidationResult, rows: int, missing: int, unexpected: int) -> None:
    """Turn GX's counts of distinct values into counts of rows, as GX computes them."""
    restate_counts(result.result, rows, missing, unexpected)


def _merged(located: Mapping[int, ExpectationValidationResult], suite: Any) -> Any:
    """One GX suite result of every expectation in suite order, with ``suite``'s meta."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.validator.validation_statistics import calc_validation_statistics

    results = [located[i] for i in sorted(located)]
    statistics = calc_validation_statistics(results)._asdict()
    return without_row_lists(
        ExpectationSuiteValidationResult(
            success=statistics.pop("success"),
            results=results,
            suite_name=suite.suite_name,
            suite_parameters=suite.suite_parameters,
            statistics=statistics,
            meta=suite.meta,
            batch_id=suite.batch_id,
        )
    )
