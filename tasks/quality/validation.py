"""Validate loader DataFrames with their datasets' GX suites, and say what failed and where.

`validate` runs a dataset's suite (`tasks.quality.suites`) on a frame with GX
(`tasks.quality.runner`) and returns a `SuiteOutcome`; `results_table` (`tasks.quality.results`)
turns outcomes into the published table. Design choices, and why:

* Every frame carries ``source_file``/``source_line``: failing rows are reported by the CSV
  file and line they came from, which is what a person fixing the data needs, never by
  DataFrame index.
* Each suite runs once per frame, and GX lists every failing row, so a failure needs no
  second pass.
* Row-level expectations (GX's column, column-pair and multicolumn *map* expectations: not
  null, in set, between, regex, unique, compound unique ...) point at rows: every failing row
  is listed in ``SuiteOutcome.failed_rows`` so `tasks.quality.quarantine` can set those rows aside.
  Table-level ones (columns match set, dtype checks) cannot, and always stop an edition.
  ``meta.row_level`` in a suite overrides the classification of one expectation.
* Each expectation has ``meta.severity``: a failed "critical" one makes the outcome fail, a
  failed "warning" one is reported but does not stop the run.
* `tasks.quality.distinct.validate_distinct` gives the same outcome faster on big frames (GX runs on
  distinct values and slim frames); both build it with `suite_outcome` from GX's results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tasks.quality.docs_pages import per_file
from tasks.quality.runner import error_message, failing_positions, run_suite, without_row_lists
from tasks.quality.suites import (
    expectation_columns,
    expected_text,
    is_row_level,
    load_suite,
    parameter_values,
)
from tasks.quality.values import plain, shown

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

LOCATOR_COLUMNS: tuple[str, str] = ("source_file", "source_line")
MAX_EXAMPLES = 5
# Every failing row of a row-level expectation: `position` is the row's position in the
# validated frame, `value` what the row holds in `column` (a tuple for several columns).
FAILED_ROW_COLUMNS: tuple[str, ...] = ("position", "expectation", "column", "value", "severity", "expected")


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
    # The file to fix when it is not the one whose rows failed (an FX rate the records lack).
    file: str | None = None

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
            text = f"{where}: expected {self.expected}, found {shown(value)} ({tail})"
            return f"{text}; {self.note}" if self.note else text
        where = (self.file or self.dataset) + (f", {subject}" if subject else "")
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
    # GX's own result of the frame (row lists dropped).
    gx_result: Any = field(default=None, compare=False, repr=False)
    # The Data Docs pages: (source file, GX result JSON in that file's rows), `tasks.quality.docs_pages`.
    pages: list[tuple[str, dict]] = field(default_factory=list, compare=False, repr=False)


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


def raise_for_failures(outcomes: Iterable[SuiteOutcome]) -> None:
    """Raise one DataValidationError naming every critical failure of every dataset."""
    critical = [f for o in outcomes for f in o.failures if f.severity == "critical"]
    if critical:
        raise DataValidationError(critical)


def validate(
    df: pd.DataFrame,
    dataset: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    suites: Path,
    fingerprint: bool = True,
) -> SuiteOutcome:
    """Validate ``df`` with the suite of ``dataset`` in the ``suites`` folder; never raises for
    bad data, only reports.

    ``parameters`` supplies the suite's ``{"$PARAMETER": name}`` values (e.g. known_cities);
    extra names are ignored so one mapping can serve every dataset. Empty strings count as
    missing (the loaders keep empty CSV cells as ""); ``df`` itself is left untouched. Without
    ``fingerprint`` GX does not hash ``df`` (`tasks.quality.runner`): for a frame built for the
    check, whose fingerprint would name no file.
    """
    expectations, values, frame = prepare(df, dataset, suites, parameters)
    run = run_suite(frame, dataset, expectations, range(len(expectations)), values, fingerprint)
    positions = {i: p for i, result in run.results.items() if (p := failing_positions(result)) is not None}
    return suite_outcome(dataset, frame, expectations, run.results, positions, without_row_lists(run.suite))


def prepare(
    df: pd.DataFrame, dataset: str, suites: Path, parameters: Mapping[str, Any] | None
) -> tuple[list[dict], dict[str, Any], pd.DataFrame]:
    """The suite's expectations, its parameter values, and ``df`` as GX should see it."""
    spec = load_suite(dataset, suites)
    missing = [c for c in LOCATOR_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{dataset}: frame lacks {missing}; loaders must add them")
    expectations: list[dict] = spec["expectations"]
    values = parameter_values(dataset, expectations, parameters)
    # GX reports failing rows by index label: a fresh RangeIndex makes labels positions.
    return expectations, values, _blank_as_missing(df.reset_index(drop=True))


def suite_outcome(
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
        columns = expectation_columns(exp["kwargs"])
        # `meta.column` names the file's column when the check runs on a derived one.
        column = (exp.get("meta") or {}).get("column") or ", ".join(columns) or None
        error = error_message(result)
        unexpected = int(result.result.get("unexpected_count") or 0)
        rows = positions.get(i)
        examples = _examples(frame, rows, columns) if rows is not None else []
        observed = None if examples else (error or _observed(result))
        expected = expected_text(exp)
        severity = exp["meta"]["severity"]
        # Row-level only if GX pointed at every failing row; otherwise the failure blocks.
        row_level = rows is not None and len(rows) == unexpected and error is None and is_row_level(exp)
        if row_level:
            # The value a person sees in the file: `meta.column` when the check reads a derived one.
            shown_columns = [column] if column in frame.columns else columns
            failed_rows.append(
                pd.DataFrame(
                    {
                        "position": rows,
                        "expectation": exp["type"],
                        "column": column,
                        "value": _row_values(frame, rows, shown_columns),
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
                "examples": "; ".join(f"{f}:{n} {shown(v)}" for f, n, v in examples),
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
        per_file(frame, gx_result, positions, LOCATOR_COLUMNS),
    )


def _failed_rows_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts stacked, with FAILED_ROW_COLUMNS and fixed dtypes even when empty."""
    dtypes = {c: "str" for c in FAILED_ROW_COLUMNS} | {"position": "int64", "value": "object"}
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
    return pd.concat(parts, ignore_index=True).astype(dtypes)


def _blank_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty text cells as missing, so not-null checks see them (CSV has no null; loaders
    read an empty cell as ""). Only columns that hold a "" are copied."""
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_string_dtype(values) and (values == "").any():
            frame[column] = values.mask(values == "")
    return frame


def _observed(result: ExpectationValidationResult) -> str | None:
    """What GX saw when there are no rows to show: missing columns, or its observed value."""
    details = result.result.get("details") or {}
    missing = (details.get("mismatched") or {}).get("missing")
    if missing:
        return f"missing column(s) {', '.join(map(str, missing))}"
    if "observed_value" in result.result:
        return repr(plain(result.result["observed_value"]))
    return None


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
        found = [plain(record[c]) for c in columns]
        file, line = plain(record["source_file"]), plain(record["source_line"])
        examples.append(
            (
                "<unknown file>" if file is None else str(file),
                int(line) if isinstance(line, int | float) else -1,
                found[0] if len(found) == 1 else tuple(found),
            )
        )
    return examples


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
