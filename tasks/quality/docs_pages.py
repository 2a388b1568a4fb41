"""GX's results as Data Docs pages: one page per source file, showing the failing rows' file and line.

* Counts are per file because the quarantine rule is (`tasks.quality.quarantine`): a page with a
  whole dataset's counts (1 row of 3,240, 0.031 %) would contradict the rule that stopped the
  run (1 of the file's 900 rows, 0.111 %, above the 0.1 % allowed). A page restates GX's
  counts of row-level results in one file's rows, from the failing positions GX listed for the
  whole frame, so a key duplicated across two files counts in both, as the rule counts it.
  A check under a row condition is restated in the file's rows that the condition selects.
  Results that judge the whole table (a column set, a dtype) are shown on every page as GX
  gave them.
* GX's renderer shows a table of unexpected values with the columns named in
  ``unexpected_index_column_names``, here the file and line. Asking GX to fill them costs a
  per-row lookup (`tasks.quality.runner`); the positions it already returned give the same
  table, for the first `MAX_SHOWN` failing rows of each file.
* Pages are GX result JSON (as the trade store keeps them): a trade file validated in several
  batches becomes one page with `merge`.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tasks.quality.runner import POSITION
from tasks.quality.suites import expectation_columns
from tasks.quality.values import plain

MAX_SHOWN = 20
UNKNOWN_FILE = "<unknown file>"
# GX's result keys of the failing rows it lists: replaced by the rows of the page's file.
_COUNTED = ("element_count", "missing_count", "unexpected_count")
_SHOWN_KEYS = ("partial_unexpected_list", "partial_unexpected_counts", "unexpected_index_list")


def per_file(
    frame: pd.DataFrame,
    suite_result: Any,
    positions: Mapping[int, np.ndarray],
    locators: tuple[str, str],
) -> list[tuple[str, dict]]:
    """``(file, GX result JSON)`` for each source file of ``frame``, in file-name order.

    ``suite_result`` is GX's result of the whole frame (row lists dropped), ``positions`` the
    failing rows of each expectation by its suite position, ``locators`` the file and line columns.
    """
    if suite_result is None:
        return []
    whole = suite_result.to_json_dict() if hasattr(suite_result, "to_json_dict") else suite_result
    file_column, _ = locators
    codes, names = pd.factorize(frame[file_column].astype("object").fillna(UNKNOWN_FILE), sort=True)
    selected = [_selected(frame, r) for r in whole["results"]]
    all_missing: dict[tuple[str, ...], np.ndarray] = {}

    def missing(columns: tuple[str, ...]) -> np.ndarray:
        """The rows where every one of `columns` is missing, computed once for all the files."""
        if columns not in all_missing:
            all_missing[columns] = frame[list(columns)].isna().to_numpy().all(axis=1)
        return all_missing[columns]

    pages = []
    for code, name in enumerate(names):
        in_file = codes == code
        results = [
            _restated(frame, r, positions, in_file, locators, rows, missing)
            for r, rows in zip(whole["results"], selected, strict=True)
        ]
        pages.append((str(name), _page(whole, results)))
    return pages


def merge(pages: Sequence[dict]) -> dict:
    """Pages of one file's batches as one page: counts summed, the first failing rows kept."""
    if len(pages) == 1:
        return pages[0]
    merged = copy.deepcopy(pages[0])
    by_position = [{_position(r): r for r in page["results"]} for page in pages[1:]]
    for result in merged["results"]:
        others = [found[p] for found in by_position if (p := _position(result)) in found]
        counts = result.get("result") or {}
        if "unexpected_count" not in counts or _raised(result):
            result["success"] = all(r["success"] for r in [result, *others])
            continue
        parts = [counts, *(r.get("result") or {} for r in others)]
        rows, missing, unexpected = (sum(int(p.get(k) or 0) for p in parts) for k in _COUNTED)
        restate_counts(counts, rows, missing, unexpected)
        result["success"] = _succeeds(result, rows, missing, unexpected)
        shown = [row for p in parts for row in p.get("unexpected_index_list") or []][:MAX_SHOWN]
        if shown:
            names = next(p["unexpected_index_column_names"] for p in parts if p.get("unexpected_index_list"))
            columns = [c for c in shown[0] if c not in names]
            counts.update({"unexpected_index_column_names": names, **_shown_lists(shown, columns)})
    return _page(merged, merged["results"])


def restate_counts(counts: dict, rows: int, missing: int, unexpected: int) -> None:
    """Set GX's row counts and percentages of a row-level result, as GX computes them."""

    def percent(part: int, whole: int) -> float | None:
        return part / whole * 100 if whole else None

    counts.update(element_count=rows, unexpected_count=unexpected)
    if "missing_count" in counts:  # checks that skip missing values
        nonmissing = percent(unexpected, rows - missing)
        counts.update(
            missing_count=missing,
            missing_percent=percent(missing, rows),
            unexpected_percent=nonmissing,
            unexpected_percent_total=percent(unexpected, rows),
            unexpected_percent_nonmissing=nonmissing,
        )
    else:
        counts["unexpected_percent"] = percent(unexpected, rows)


def _restated(
    frame: pd.DataFrame,
    result: dict,
    positions: Mapping[int, np.ndarray],
    in_file: np.ndarray,
    locators: tuple[str, str],
    selected: np.ndarray | None,
    missing_in: Callable[[tuple[str, ...]], np.ndarray],
) -> dict:
    """One expectation's result in the rows of one file (``in_file``) that its row condition
    ``selected``, with its failing rows shown (``missing_in``: the rows of ``frame`` where all
    of some columns are missing)."""
    config = result["expectation_config"]
    kwargs = config.get("kwargs") or {}
    columns = expectation_columns(kwargs)
    failing = positions.get(_position(result))
    counts = result.get("result") or {}
    if (
        not columns
        or selected is None
        or "unexpected_count" not in counts
        or _raised(result)
        or (not result["success"] and failing is None)  # GX pointed at no rows: nothing to split
    ):
        return result
    result = copy.deepcopy(result)
    counts = result["result"]
    in_file = in_file & selected
    mine = failing[in_file[failing]] if failing is not None else np.empty(0, dtype=np.int64)
    present = tuple(c for c in columns if c in frame.columns)
    missing = int(missing_in(present)[in_file].sum()) if present else 0
    rows = int(in_file.sum())
    restate_counts(counts, rows, missing, len(mine))
    result["success"] = _succeeds(result, rows, missing, len(mine))
    for key in _SHOWN_KEYS:
        counts.pop(key, None)
    if len(mine) and len(present) == len(columns):
        counts.update(_shown(frame, mine, columns, locators))
    return result


def _selected(frame: pd.DataFrame, result: dict) -> np.ndarray | None:
    """The rows of ``frame`` an expectation judged: all, or those its row condition selects, as
    GX's pandas engine selects them; None for a condition this cannot evaluate (a legacy string),
    whose result then stays as GX gave it, for the whole frame."""
    condition = (result["expectation_config"].get("kwargs") or {}).get("row_condition")
    if not condition:
        return np.ones(len(frame), dtype=bool)
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.row_conditions import (
        Condition,
        PassThroughCondition,
        deserialize_row_condition,
    )

    parsed = deserialize_row_condition(condition) if isinstance(condition, dict) else condition
    if not isinstance(parsed, Condition) or isinstance(parsed, PassThroughCondition):
        return None
    chosen = frame.query(PandasExecutionEngine().condition_to_filter_clause(parsed)).index
    selected = np.zeros(len(frame), dtype=bool)
    selected[frame.index.get_indexer(chosen)] = True
    return selected


def _shown(
    frame: pd.DataFrame, failing: np.ndarray, columns: list[str], locators: tuple[str, str]
) -> dict[str, Any]:
    """The first failing rows by file and line, as GX lists them with index columns."""
    file_column, line_column = locators
    rows = frame[list(dict.fromkeys([*columns, *locators]))].take(failing)
    rows = rows.sort_values(list(locators), kind="stable").head(MAX_SHOWN)
    listed = []
    for record in rows.to_dict("records"):
        line = plain(record[line_column])
        entry = {c: plain(record[c]) for c in columns}
        file = plain(record[file_column])
        entry[file_column] = UNKNOWN_FILE if file is None else str(file)
        entry[line_column] = int(line) if isinstance(line, int | float) else None
        listed.append(entry)
    return {"unexpected_index_column_names": list(locators), **_shown_lists(listed, columns)}


def _shown_lists(listed: list[dict], columns: list[str]) -> dict[str, Any]:
    """GX's partial lists of the rows ``listed``: a value, or a dict of values for several columns."""
    values = [row[columns[0]] if len(columns) == 1 else {c: row[c] for c in columns} for row in listed]
    counted = Counter(v if not isinstance(v, dict) else tuple(v.values()) for v in values)
    return {
        "partial_unexpected_list": values,
        "partial_unexpected_counts": [{"value": v, "count": n} for v, n in counted.items()],
        "unexpected_index_list": listed,
    }


def _succeeds(result: dict, rows: int, missing: int, unexpected: int) -> bool:
    """GX's verdict on a row-level result: the share of good rows at least ``mostly``."""
    mostly = float((result["expectation_config"].get("kwargs") or {}).get("mostly", 1.0))
    checked = rows - missing
    return checked == 0 or (checked - unexpected) / checked >= mostly


def _page(whole: dict, results: list[dict]) -> dict:
    """A suite result of ``results``, with ``whole``'s meta and statistics to match."""
    page = {k: v for k, v in whole.items() if k != "results"}
    successful = sum(bool(r["success"]) for r in results)
    page["results"] = results
    page["success"] = successful == len(results)
    page["statistics"] = {
        "evaluated_expectations": len(results),
        "successful_expectations": successful,
        "unsuccessful_expectations": len(results) - successful,
        "success_percent": successful / len(results) * 100 if results else None,
    }
    return page


def _raised(result: dict) -> bool:
    """Whether GX reports an error, flat or keyed by metric id."""
    info = result.get("exception_info") or {}
    return any(isinstance(e, dict) and e.get("raised_exception") for e in [info, *info.values()])


def _position(result: dict) -> int:
    return int(result["expectation_config"]["meta"][POSITION])
