"""Validate loader DataFrames with the Great Expectations suites kept in ``expectations/``.

The Prefect integration for GX does not work with GX 1.x, so this module drives GX directly.
It stays free of Prefect so it can be tested and reused on its own; flows wrap it in tasks.

Design choices, and why:

* One JSON suite per dataset lives in the repo, and GX runs in an *ephemeral* context, so a
  fresh clone validates with no GX project directory or state on disk.
* The context is built once per process and GX is imported lazily: the import alone takes
  ~3 s, which CLI help or flows that validate nothing should not pay.
* Every frame carries ``source_file``/``source_line``: failing rows are reported by the CSV
  file and line they came from, which is what a person fixing the data needs, never by
  DataFrame index.
* Each suite runs once per frame, with a lean COMPLETE result: GX then returns the index of
  *every* failing row (``unexpected_index_list``; the partial lists stop at 20 rows, the value
  list at 200) but neither the ``df.filter(items=[...])`` query text nor value counts. On
  clean data this costs what a SUMMARY pass does, and a failure needs no second pass.
* Row-level expectations (GX's column, column-pair and multicolumn *map* expectations: not
  null, in set, between, regex, unique, compound unique ...) point at rows: every failing row
  is listed in ``SuiteOutcome.failed_rows`` so `tasks.quality.quarantine` can set those rows aside.
  Table-level ones (columns match set, dtype checks) cannot, and always stop an edition.
  ``meta.row_level`` in a suite overrides the classification of one expectation.
* Each expectation has ``meta.severity``: a failed "critical" one makes the outcome fail, a
  failed "warning" one is reported but does not stop the run.
* `tasks.quality.distinct.validate_distinct` gives the same outcome faster on big frames (GX runs on
  distinct values and slim frames); both build it with `_outcome` from GX's results.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )
    from great_expectations.datasource.fluent.interfaces import Batch

EXPECTATIONS_DIR: Path = Path(__file__).resolve().parents[2] / "expectations"
SEVERITIES: tuple[str, ...] = ("critical", "warning")
LOCATOR_COLUMNS: tuple[str, str] = ("source_file", "source_line")
MAX_EXAMPLES = 5
# Every failing row of a row-level expectation: `position` is the row's position in the
# validated frame, `value` what the row holds in `column` (a tuple for several columns).
FAILED_ROW_COLUMNS: tuple[str, ...] = ("position", "expectation", "column", "value", "severity", "expected")
# Map expectations that GX evaluates on the column's dtype, not on its rows.
_DTYPE_CHECKS = frozenset({"expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list"})
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

# Meta key used to map GX results (returned in no particular order) back to the suite order.
_POSITION = "_position"
# The pandas data source shares one execution engine, and every DataFrame batch of an asset
# gets the same batch id: concurrent validations (Prefect thread pools) must not interleave.
_GX_LOCK = threading.Lock()


@dataclass(frozen=True)
class Failure:
    """One failed expectation, located in the source CSVs so a person can go and fix it."""

    dataset: str
    expectation: str
    column: str | None
    severity: str
    unexpected_count: int
    examples: list[tuple[str, int, object]]
    expected: str
    # What was seen when there are no rows to point at (missing columns, wrong dtype, error).
    observed: str | None = None
    # Every failing row is listed in SuiteOutcome.failed_rows (it can be quarantined).
    row_level: bool = False
    # Set by tasks.quality.quarantine for a file over the threshold: the counts are then that file's.
    note: str | None = None

    def describe(self) -> str:
        """One line: where, what was expected, what was found, how many rows in all."""
        subject = _subject(self.column)
        if self.examples:
            file, line, value = self.examples[0]
            rows = f"{self.unexpected_count} row{'' if self.unexpected_count == 1 else 's'}"
            rows += " in this file" if self.note else " in all"
            also = _other_lines(file, self.examples[1:])
            tail = f"{rows}; also {also}" if also else rows
            where = f"{file}, line {line}" + (f", {subject}" if subject else "")
            text = f"{where}: expected {self.expected}, found {_show(value)} ({tail})"
            return f"{text}; {self.note}" if self.note else text
        where = self.dataset + (f", {subject}" if subject else "")
        found = self.observed or f"{self.unexpected_count} unexpected value(s)"
        return f"{where}: expected {self.expected}, found {found}"


@dataclass(frozen=True)
class SuiteOutcome:
    """The result of validating one DataFrame against its dataset's suite."""

    dataset: str
    success: bool
    rows: int
    results: list[dict] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    # One row per (failing row, failed row-level expectation), warnings included; see
    # FAILED_ROW_COLUMNS. Empty when every row-level expectation passed.
    failed_rows: pd.DataFrame = field(default_factory=lambda: _failed_rows_frame([]), compare=False)
    # GX's own result (row lists dropped), for Data Docs.
    gx_result: Any = field(default=None, compare=False, repr=False)


class DataValidationError(Exception):
    """Raised when a critical expectation fails; str() lists every failure's describe() line."""

    def __init__(self, failures: Iterable[Failure]) -> None:
        self.failures: list[Failure] = list(failures)
        count = len(self.failures)
        lines = [f"{count} critical data check{'' if count == 1 else 's'} failed:"]
        lines += [f"- [{f.dataset}] {f.describe()}" for f in self.failures]
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type[DataValidationError], tuple[list[Failure]]]:
        # Prefect pickles exceptions into task states; rebuild from failures, not the message.
        return (type(self), (self.failures,))


def load_suite(dataset: str, directory: Path = EXPECTATIONS_DIR) -> dict:
    """Read ``<directory>/<dataset>.json``, checking what GX itself would not (name, severity)."""
    path = Path(directory) / f"{dataset}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no expectation suite for dataset {dataset!r}: {path} is missing")
    spec = json.loads(path.read_text(encoding="utf-8"))
    if spec.get("name") != dataset:
        raise ValueError(f"{path}: suite name is {spec.get('name')!r}, expected {dataset!r}")
    expectations = spec.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        raise ValueError(f"{path}: 'expectations' must be a non-empty list")
    for i, exp in enumerate(expectations):
        severity = (exp.get("meta") or {}).get("severity")
        if severity not in SEVERITIES:
            raise ValueError(
                f"{path}: expectation {i} ({exp.get('type')}) has meta.severity {severity!r};"
                f" use one of {', '.join(SEVERITIES)}"
            )
    return spec


def validate(
    df: pd.DataFrame,
    dataset: str,
    parameters: Mapping[str, Any] | None = None,
    directory: Path = EXPECTATIONS_DIR,
) -> SuiteOutcome:
    """Validate ``df`` with the suite of ``dataset``; never raises for bad data, only reports.

    ``parameters`` supplies the suite's ``{"$PARAMETER": name}`` values (e.g. known_cities);
    extra names are ignored so one mapping can serve every dataset. Empty strings count as
    missing (the loaders keep empty CSV cells as ""); ``df`` itself is left untouched.
    """
    expectations, values, frame = _prepare(df, dataset, parameters, directory)
    located = _run_on(frame, dataset, expectations, range(len(expectations)), values)
    suite_result = located.pop("suite", None)
    positions = {i: p for i, result in located.items() if (p := _failing_positions(result)) is not None}
    return _outcome(dataset, frame, expectations, located, positions, _light(suite_result))


def _prepare(
    df: pd.DataFrame, dataset: str, parameters: Mapping[str, Any] | None, directory: Path
) -> tuple[list[dict], dict[str, Any], pd.DataFrame]:
    """The suite's expectations, its parameter values, and ``df`` as GX should see it."""
    spec = load_suite(dataset, directory)
    missing = [c for c in LOCATOR_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{dataset}: frame lacks {missing}; loaders must add them")
    expectations: list[dict] = spec["expectations"]
    values = _parameter_values(dataset, expectations, parameters)
    # GX reports failing rows by index label: a fresh RangeIndex makes labels positions.
    return expectations, values, _blank_as_missing(df.reset_index(drop=True))


def _failing_positions(result: ExpectationValidationResult) -> np.ndarray | None:
    """The failing rows GX listed, or None when it passed or listed none."""
    unexpected = int(result.result.get("unexpected_count") or 0)
    return _positions(result) if not result.success and unexpected else None


def _outcome(
    dataset: str,
    frame: pd.DataFrame,
    expectations: list[dict],
    located: Mapping[int, ExpectationValidationResult],
    positions: Mapping[int, np.ndarray],
    gx_result: Any,
) -> SuiteOutcome:
    """The outcome from GX's result for each expectation and the positions of its failing rows
    in ``frame`` (the validated frame: blanks as missing, fresh RangeIndex)."""
    results: list[dict] = []
    failures: list[Failure] = []
    failed_rows: list[pd.DataFrame] = []
    for i, exp in enumerate(expectations):
        result = located[i]
        columns = _columns(exp["kwargs"])
        # `meta.column` names the file's column when the check runs on a derived one.
        column = (exp.get("meta") or {}).get("column") or ", ".join(columns) or None
        error = _exception_message(result)
        unexpected = int(result.result.get("unexpected_count") or 0)
        rows = positions.get(i)
        examples = _examples(frame, rows, columns) if rows is not None else []
        observed = None if examples else (error or _observed(result))
        expected = _expected_text(exp)
        severity = exp["meta"]["severity"]
        # Row-level only if GX pointed at every failing row; otherwise the failure blocks.
        row_level = rows is not None and len(rows) == unexpected and error is None and is_row_level(exp)
        if row_level:
            # The value a person sees in the file: `meta.column` when the check reads a derived one.
            shown = [column] if column in frame.columns else columns
            failed_rows.append(
                pd.DataFrame(
                    {
                        "position": rows,
                        "expectation": exp["type"],
                        "column": column,
                        "value": _row_values(frame, rows, shown),
                        "severity": severity,
                        "expected": expected,
                    }
                )
            )
        results.append(
            {
                "dataset": dataset,
                "expectation": exp["type"],
                "column": column,
                "severity": severity,
                "success": bool(result.success),
                "unexpected_count": unexpected,
                "expected": expected,
                "observed": observed if not result.success else None,
                "examples": "; ".join(f"{f}:{n} {_show(v)}" for f, n, v in examples),
            }
        )
        if not result.success:
            failures.append(
                Failure(
                    dataset=dataset,
                    expectation=exp["type"],
                    column=column,
                    severity=severity,
                    unexpected_count=unexpected,
                    examples=examples,
                    expected=expected,
                    observed=observed,
                    row_level=row_level,
                )
            )
    critical = any(f.severity == "critical" for f in failures)
    return SuiteOutcome(
        dataset,
        not critical,
        len(frame),
        results,
        failures,
        _failed_rows_frame(failed_rows),
        gx_result,
    )


def _light(suite_result: Any) -> Any:
    """GX's suite result without the per-row lists (they can hold millions of entries)."""
    if suite_result is None:
        return None
    for result in suite_result.results:
        for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            result.result.pop(key, None)
    return suite_result


def _failed_rows_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts stacked, with FAILED_ROW_COLUMNS and fixed dtypes even when empty."""
    dtypes = {c: "str" for c in FAILED_ROW_COLUMNS} | {"position": "int64", "value": "object"}
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
    return pd.concat(parts, ignore_index=True).astype(dtypes)


def is_row_level(expectation: Mapping[str, Any]) -> bool:
    """Whether a failure of this suite expectation points at rows that can be set aside.

    ``meta.row_level`` decides when present; otherwise GX's map expectations (column,
    column-pair, multicolumn) are row-level, except the dtype checks, which judge a column.
    """
    meta = expectation.get("meta") or {}
    if "row_level" in meta:
        return bool(meta["row_level"])
    kind = expectation["type"]
    return kind not in _DTYPE_CHECKS and _is_map_expectation(kind)


@cache
def _is_map_expectation(kind: str) -> bool:
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        impl = get_expectation_impl(kind)
    except Exception:  # noqa: BLE001 - unknown to GX: it cannot point at rows either
        return False
    return issubclass(impl, ColumnMapExpectation | ColumnPairMapExpectation | MulticolumnMapExpectation)


def _blank_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty text cells as missing, so not-null checks see them (CSV has no null; loaders
    read an empty cell as ""). Only columns that hold a "" are copied."""
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_string_dtype(values) and (values == "").any():
            frame[column] = values.mask(values == "")
    return frame


def raise_for_failures(outcomes: Iterable[SuiteOutcome]) -> None:
    """Raise one DataValidationError naming every critical failure of every dataset."""
    critical = [f for o in outcomes for f in o.failures if f.severity == "critical"]
    if critical:
        raise DataValidationError(critical)


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


# --- GX plumbing -------------------------------------------------------------------------

# COMPLETE for the full `unexpected_index_list`, minus what nobody reads: the filter query
# text (a string of every failing index) and the partial lists and value counts.
_LOCATE: dict[str, Any] = {
    "result_format": "COMPLETE",
    "partial_unexpected_count": 0,
    "return_unexpected_index_query": False,
}


@lru_cache(maxsize=1)
def _batch_definition() -> BatchDefinition:
    """The process-wide ephemeral context's whole-DataFrame batch definition."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # The ephemeral context announces a temporary docs folder at INFO on every start.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    # TQDM_DISABLE does not reach GX's "Calculating Metrics" bars; this does.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("coopindex").add_dataframe_asset("frames")
    return asset.add_batch_definition_whole_dataframe("whole")


def _run_on(
    frame: pd.DataFrame,
    dataset: str,
    expectations: list[dict],
    positions: Iterable[int],
    parameters: dict[str, Any],
    fingerprint: bool = True,
) -> dict[int | str, Any]:
    """`_run` on ``frame`` as a batch of its own; nothing (not even GX's batch) if no positions.

    GX fingerprints every pandas batch under 1 GB (an MD5 of every cell, twice per run: about
    half the time of a whole-suite run) only to put it in the result's batch markers; without
    ``fingerprint`` it skips that, as it does for bigger frames.
    """
    positions = list(positions)
    if not positions:
        return {}
    with _GX_LOCK, contextlib.ExitStack() as stack:
        if not fingerprint:
            from great_expectations.execution_engine import pandas_execution_engine

            stack.enter_context(mock.patch.object(pandas_execution_engine, "HASH_THRESHOLD", 0))
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        return _run(batch, dataset, expectations, positions, _LOCATE, parameters)


def _run(
    batch: Batch,
    dataset: str,
    expectations: list[dict],
    positions: Iterable[int],
    result_format: str | dict[str, Any],
    parameters: dict[str, Any],
) -> dict[int | str, Any]:
    """Validate the chosen expectations in one pass; results keyed by position in the suite
    (and the whole suite's result under "suite").

    Batch.validate takes an unsaved suite and, unlike ValidationDefinition.run, keeps no
    result in the context's in-memory store, so a long-lived process does not accumulate them.
    """
    import great_expectations as gx

    tagged = []
    for i in positions:
        exp = expectations[i]
        tagged.append({**exp, "meta": {**exp.get("meta", {}), _POSITION: i}})
    if not tagged:
        return {}
    suite = gx.ExpectationSuite(name=dataset, expectations=tagged)
    outcome = batch.validate(suite, result_format=result_format, expectation_parameters=parameters)
    return {int(r.expectation_config.meta[_POSITION]): r for r in outcome.results} | {"suite": outcome}


def _parameter_names(node: object) -> set[str]:
    if isinstance(node, dict):
        if set(node) == {"$PARAMETER"}:
            return {str(node["$PARAMETER"])}
        return set().union(*(_parameter_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_parameter_names(v) for v in node))
    return set()


def _parameter_values(
    dataset: str, expectations: list[dict], given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The suite's parameters as plain sorted lists; a missing one is a caller bug, say so."""
    names = _parameter_names([e.get("kwargs", {}) for e in expectations])
    given = dict(given or {})
    missing = sorted(names - set(given))
    if missing:
        raise ValueError(f"suite {dataset!r} needs parameter(s) {missing}; pass them in parameters")
    values: dict[str, Any] = {}
    for name in sorted(names):
        value = given[name]
        if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
            items = [_plain(v) for v in value]
            with contextlib.suppress(TypeError):  # mixed types: keep the caller's order
                items = sorted(items)
            value = items
        values[name] = value
    return values


def _columns(kwargs: Mapping[str, Any]) -> list[str]:
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_list" in kwargs:
        return list(kwargs["column_list"])
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return []


def _exception_message(result: ExpectationValidationResult) -> str | None:
    """GX reports errors (e.g. a missing column) either flat or keyed by metric id."""
    info = result.exception_info or {}
    for entry in [info, *info.values()]:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return f"an error: {entry.get('exception_message')}"
    return None


def _observed(result: ExpectationValidationResult) -> str | None:
    details = result.result.get("details") or {}
    missing = (details.get("mismatched") or {}).get("missing")
    if missing:
        return f"missing column(s) {', '.join(map(str, missing))}"
    if "observed_value" in result.result:
        return repr(_plain(result.result["observed_value"]))
    return None


def _positions(result: ExpectationValidationResult) -> np.ndarray | None:
    """Every failing row's position, from GX's complete ``unexpected_index_list``.

    GX returns the unexpected rows' index labels, which equal positions because the frame has
    a fresh RangeIndex. Asking GX for ``unexpected_index_column_names`` instead would cost a
    per-row, per-column lookup inside GX: about 30 s for 100k bad rows, against 0.1 s here.
    None when GX gave no usable list (an aggregate check, an error).
    """
    labels = result.result.get("unexpected_index_list")
    if not labels:
        return None
    positions = np.asarray(labels)
    if positions.ndim != 1 or positions.dtype.kind not in "iu":
        return None
    return positions.astype(np.int64, copy=False)


def _row_values(frame: pd.DataFrame, positions: np.ndarray, columns: list[str]) -> list[object]:
    """What the rows hold in ``columns``: plain values, None when missing, tuples for several."""
    values = []
    for column in columns:
        cells = frame[column].take(positions)
        values.append(cells.astype(object).where(cells.notna(), None).tolist())
    if len(values) == 1:
        return values[0]
    return list(zip(*values, strict=True))


def _examples(
    frame: pd.DataFrame, positions: np.ndarray, columns: list[str]
) -> list[tuple[str, int, object]]:
    """The first unexpected rows by (file, line), read from the frame's own locator columns."""
    if not len(positions):
        return []
    wanted = list(dict.fromkeys([*LOCATOR_COLUMNS, *columns]))
    rows = frame[wanted].take(positions).sort_values(list(LOCATOR_COLUMNS), kind="stable")
    examples = []
    for record in rows.head(MAX_EXAMPLES).to_dict("records"):
        found = [_plain(record[c]) for c in columns]
        file, line = _plain(record["source_file"]), _plain(record["source_line"])
        examples.append(
            (
                "<unknown file>" if file is None else str(file),
                int(line) if isinstance(line, int | float) else -1,
                found[0] if len(found) == 1 else tuple(found),
            )
        )
    return examples


def _plain(value: object) -> object:
    """numpy/pandas scalars as plain Python, missing values as None, timestamps as ISO text."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            return None
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, list | dict | tuple):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value) is True:
            return None
    except (TypeError, ValueError):
        pass
    return value


def _show(value: object) -> str:
    return "an empty value" if value is None else repr(value)


def _other_lines(first_file: str, examples: list[tuple[str, int, object]]) -> str:
    """'lines 3, 4; raw/b.csv, line 9': the file is named only when it changes."""
    groups: dict[str, list[int]] = {}
    for file, line, _ in examples:
        groups.setdefault(file, []).append(line)
    parts = []
    for file, lines in groups.items():
        numbers = f"line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}"
        parts.append(numbers if file == first_file else f"{file}, {numbers}")
    return "; ".join(parts)


def _subject(column: str | None) -> str | None:
    if not column:
        return None
    return f"columns ({column})" if ", " in column else f"column {column!r}"


def _value_text(value: object) -> str:
    if isinstance(value, Mapping) and "$PARAMETER" in value:
        return str(value["$PARAMETER"])
    return str(value)


def _set_text(values: object) -> str:
    if isinstance(values, Mapping) and "$PARAMETER" in values:
        return f"one of {values['$PARAMETER']}"
    items = [str(v) for v in values] if isinstance(values, Iterable) else [str(values)]
    if len(items) > 8:
        return f"one of {{{', '.join(items[:3])}, ..., {items[-1]}}} ({len(items)} values)"
    return f"one of {{{', '.join(items)}}}"


def _range_text(kwargs: Mapping[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    lower = f"{'>' if kwargs.get('strict_min') else '>='} {_value_text(low)}"
    upper = f"{'<' if kwargs.get('strict_max') else '<='} {_value_text(high)}"
    if low is not None and high is not None:
        return f"a value {lower} and {upper}"
    return f"a value {lower if low is not None else upper}"


def _condition_text(condition: object) -> str:
    if isinstance(condition, Mapping) and condition.get("type") == "comparison":
        column = (condition.get("column") or {}).get("name")
        return f"{column} {condition.get('operator')} {condition.get('parameter')!r}"
    return str(condition)


def _expected_text(exp: Mapping[str, Any]) -> str:
    """What a good value looks like, in words; ``meta.expected`` overrides the derived text."""
    meta, kwargs, kind = exp.get("meta") or {}, exp.get("kwargs") or {}, exp["type"]
    if meta.get("expected"):
        text = str(meta["expected"])
    elif kind == "expect_column_values_to_be_in_set":
        text = _set_text(kwargs.get("value_set"))
    elif kind == "expect_column_values_to_not_be_in_set":
        text = "not " + _set_text(kwargs.get("value_set"))
    elif kind == "expect_column_values_to_be_between":
        text = _range_text(kwargs)
    elif kind == "expect_column_values_to_match_regex":
        text = f"a value matching {kwargs.get('regex')}"
    elif kind == "expect_column_values_to_not_be_null":
        text = "a non-empty value"
    elif kind == "expect_column_values_to_be_unique":
        text = "a unique value"
    elif kind in (
        "expect_compound_columns_to_be_unique",
        "expect_select_column_values_to_be_unique_within_record",
    ):
        text = "a unique combination"
    elif kind == "expect_table_columns_to_match_set":
        text = f"columns {{{', '.join(kwargs.get('column_set') or [])}}}"
    elif kind == "expect_column_to_exist":
        text = "the column to exist"
    elif kind == "expect_column_values_to_be_of_type":
        text = f"dtype {kwargs.get('type_')}"
    elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
        op = ">=" if kwargs.get("or_equal") else ">"
        text = f"{kwargs.get('column_A')} {op} {kwargs.get('column_B')}"
    else:
        text = kind.removeprefix("expect_").replace("_", " ")
    if kwargs.get("row_condition"):
        text += f" (where {_condition_text(kwargs['row_condition'])})"
    return text
