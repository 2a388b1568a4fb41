"""The GX suites: one JSON file per dataset, read from the folder the caller names.

The folder is always an argument (callers pass their `Catalog.expectations`): the catalog is the
one place that knows paths, and tests point it at suites of their own.

Beyond GX's own schema a suite here has rules GX does not check:

* its ``name`` is the dataset's and its expectations are a non-empty list;
* every expectation has ``meta.severity``, "critical" (a failure stops the run) or "warning";
* ``meta.row_level`` may override whether a failure points at rows (`is_row_level`);
* ``meta.expected`` may override the words `expected_text` derives for a good value (``{max_value}``
  and ``{min_value}`` are filled in from the kwargs);
* ``meta.column`` names the file's column when the check reads a derived one;
* ``{"$PARAMETER": name}`` values are filled in per run (`parameter_values`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from tasks.quality.values import plain

SEVERITIES: tuple[str, ...] = ("critical", "warning")
# Map expectations that GX evaluates on the column's dtype, not on its rows.
_DTYPE_CHECKS = frozenset({"expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list"})


def load_suite(dataset: str, suites: Path) -> dict:
    """Read ``<suites>/<dataset>.json``, checking what GX itself would not (name, severity)."""
    path = Path(suites) / f"{dataset}.json"
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


def is_row_level(expectation: Mapping[str, Any]) -> bool:
    """Whether a failure of this suite expectation points at rows that can be set aside.

    ``meta.row_level`` decides when present; otherwise GX's map expectations (column,
    column-pair, multicolumn) are row-level, except the dtype checks, which judge a column.
    """
    meta = expectation.get("meta") or {}
    if "row_level" in meta:
        return bool(meta["row_level"])
    kind = expectation["type"]
    return kind not in _DTYPE_CHECKS and is_map_expectation(kind)


@cache
def is_map_expectation(kind: str) -> bool:
    """Whether GX evaluates the expectation type row by row (and so can list failing rows)."""
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


def expectation_columns(kwargs: Mapping[str, Any]) -> list[str]:
    """The columns an expectation reads, from its kwargs; none for table-level ones."""
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_list" in kwargs:
        return list(kwargs["column_list"])
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return []


def parameter_values(
    dataset: str, expectations: list[dict], given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The suite's parameters as plain sorted lists; a missing one is a caller bug, say so.

    Extra names in ``given`` are ignored, so that one mapping can serve every dataset.
    """
    names = _parameter_names([e.get("kwargs", {}) for e in expectations])
    given = dict(given or {})
    missing = sorted(names - set(given))
    if missing:
        raise ValueError(f"suite {dataset!r} needs parameter(s) {missing}; pass them in parameters")
    values: dict[str, Any] = {}
    for name in sorted(names):
        value = given[name]
        if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
            items = [plain(v) for v in value]
            with contextlib.suppress(TypeError):  # mixed types: keep the caller's order
                items = sorted(items)
            value = items
        values[name] = value
    return values


def _parameter_names(node: object) -> set[str]:
    if isinstance(node, dict):
        if set(node) == {"$PARAMETER"}:
            return {str(node["$PARAMETER"])}
        return set().union(*(_parameter_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_parameter_names(v) for v in node))
    return set()


def expected_text(exp: Mapping[str, Any]) -> str:
    """What a good value looks like, in words; ``meta.expected`` overrides the derived text."""
    meta, kwargs, kind = exp.get("meta") or {}, exp.get("kwargs") or {}, exp["type"]
    if meta.get("expected"):
        text = _filled(str(meta["expected"]), kwargs)
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


def _filled(text: str, kwargs: Mapping[str, Any]) -> str:
    """``meta.expected`` with ``{min_value}``/``{max_value}`` from the kwargs, so that the words
    stay true when the bound in the suite is changed."""
    for name in ("min_value", "max_value"):
        if name in kwargs:
            value = kwargs[name]
            shown = (
                f"{value:,.0f}"
                if isinstance(value, int | float) and float(value).is_integer()
                else str(value)
            )
            text = text.replace("{" + name + "}", _value_text(value) if isinstance(value, Mapping) else shown)
    return text


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
        return f"{column} {condition.get('operator')} {_parameter_text(condition.get('parameter'))}"
    if isinstance(condition, Mapping) and condition.get("type") in ("and", "or"):
        return f" {condition['type']} ".join(_condition_text(c) for c in condition.get("conditions") or [])
    return str(condition)


def _parameter_text(value: object) -> str:
    """A whole number with thousands separators (a floor of 1,000,000 CNY reads at a glance)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return repr(value)
