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
* Each suite runs once per frame with a cheap SUMMARY result; only the failed expectations are
  re-run with COMPLETE results, to locate the rows. The clean path pays for nothing extra.
* Each expectation has ``meta.severity``: a failed "critical" one makes the outcome fail, a
  failed "warning" one is reported but does not stop the run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )
    from great_expectations.datasource.fluent.interfaces import Batch

EXPECTATIONS_DIR: Path = Path(__file__).resolve().parent.parent / "expectations"
SEVERITIES: tuple[str, ...] = ("critical", "warning")
LOCATOR_COLUMNS: tuple[str, str] = ("source_file", "source_line")
MAX_EXAMPLES = 5
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

    def describe(self) -> str:
        """One line: where, what was expected, what was found, how many rows in all."""
        subject = _subject(self.column)
        if self.examples:
            file, line, value = self.examples[0]
            rows = f"{self.unexpected_count} row{'' if self.unexpected_count == 1 else 's'}"
            also = _other_lines(file, self.examples[1:])
            tail = f"{rows} in all; also {also}" if also else f"{rows} in all"
            where = f"{file}, line {line}" + (f", {subject}" if subject else "")
            return f"{where}: expected {self.expected}, found {_show(value)} ({tail})"
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
    spec = load_suite(dataset, directory)
    missing = [c for c in LOCATOR_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{dataset}: frame lacks {missing}; loaders must add them")
    expectations: list[dict] = spec["expectations"]
    values = _parameter_values(dataset, expectations, parameters)

    # GX reports failing rows by index label: a fresh RangeIndex makes labels positions.
    frame = _blank_as_missing(df.reset_index(drop=True))
    with _GX_LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        summary = _run(batch, dataset, expectations, range(len(expectations)), "SUMMARY", values)
        failed = [i for i, r in summary.items() if not r.success]
        to_locate = [i for i in failed if summary[i].result.get("unexpected_count")]
        located = _run(batch, dataset, expectations, to_locate, _COMPLETE, values)

    results: list[dict] = []
    failures: list[Failure] = []
    for i, exp in enumerate(expectations):
        result = summary[i]
        columns = _columns(exp["kwargs"])
        # `meta.column` names the file's column when the check runs on a derived one.
        column = (exp.get("meta") or {}).get("column") or ", ".join(columns) or None
        error = _exception_message(result)
        examples = _examples(frame, located[i], columns) if i in located else []
        observed = None if examples else (error or _observed(result))
        unexpected = int(result.result.get("unexpected_count") or 0)
        expected = _expected_text(exp)
        severity = exp["meta"]["severity"]
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
                )
            )
    critical = any(f.severity == "critical" for f in failures)
    return SuiteOutcome(dataset, not critical, len(df), results, failures)


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

_COMPLETE: dict[str, Any] = {"result_format": "COMPLETE"}


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


def _run(
    batch: Batch,
    dataset: str,
    expectations: list[dict],
    positions: Iterable[int],
    result_format: str | dict[str, Any],
    parameters: dict[str, Any],
) -> dict[int, ExpectationValidationResult]:
    """Validate the chosen expectations in one pass; results keyed by position in the suite.

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
    return {int(r.expectation_config.meta[_POSITION]): r for r in outcome.results}


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


def _examples(
    frame: pd.DataFrame, result: ExpectationValidationResult, columns: list[str]
) -> list[tuple[str, int, object]]:
    """The first unexpected rows by (file, line), read from the frame's own locator columns.

    GX returns the unexpected rows' index labels, which equal positions because ``frame`` has
    a fresh RangeIndex. Asking GX for ``unexpected_index_column_names`` instead would cost a
    per-row, per-column lookup inside GX: about 30 s for 100k bad rows, against 0.1 s here.
    """
    labels = [int(i) for i in result.result.get("unexpected_index_list") or [] if _is_integer(i)]
    if not labels:
        return []
    wanted = list(dict.fromkeys([*LOCATOR_COLUMNS, *columns]))
    rows = frame.iloc[labels][wanted].sort_values(list(LOCATOR_COLUMNS), kind="stable")
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


def _is_integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


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
