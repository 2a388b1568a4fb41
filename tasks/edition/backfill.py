"""What a backfill runs and what it records, without Prefect: the plan, the result rows, the run logs.

A backfill scores a range of editions (`flows.backfill` runs them). Which ones run, and why,
is decided here from the published manifests (`tasks.edition.inputs.is_current`); so is every
row of its summary table and every run log (`warehouse/runs/<run_id>/run.json`) it writes,
whether the edition was published, skipped or failed. An error is a data error when its
message says what is wrong with the inputs: the run log and the console then carry no traceback.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.edition.errors import DATA_ERRORS, EditionBusyError
from tasks.edition.inputs import is_current
from tasks.warehouse import manifest as manifest_facts
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.publish import new_run_id
from tasks.warehouse.runs import city_name, read_json

SUMMARY_COLUMNS = ("edition", "status", "duration_s", "rows", "top_city", "run_id", "flow_run_id", "reason")
WORKER_DIED_HINT = "a script that calls backfill(parallel > 1) needs an `if __name__ == '__main__':` guard"


@dataclass(frozen=True)
class Planned:
    """One edition of a backfill: whether it runs, and why (or why not)."""

    edition: int
    run: bool
    reason: str


@dataclass(frozen=True)
class Attempt:
    """When and how one edition's flow ran, whatever came of it."""

    edition: int
    reason: str
    started_at: datetime
    finished_at: datetime
    duration_s: float
    flow_run_id: str | None = None


def edition_range(catalog: Catalog, start: int | None, end: int | None) -> tuple[int, int]:
    """The editions to backfill: `start`..`end`, each defaulting to the first or last year of raw trade data.

    Raises ValueError, with the message for the user, when a default has no trade data to come
    from or the range is empty.
    """
    years = catalog.trade_years()
    if (start is None or end is None) and not years:
        raise ValueError(f"no trade data in {catalog.trade}: give --from and --to")
    start = years[0] if start is None else start
    end = years[-1] if end is None else end
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    return start, end


def plan(catalog: Catalog, start: int, end: int, force: bool = False) -> list[Planned]:
    """Editions `start`..`end` in order: a current one is skipped ("inputs unchanged") unless `force`;
    the others run, with `is_current`'s reason ("not published", "raw/trade/... changed") or "forced"."""
    if end < start:
        raise ValueError(f"the range {start}..{end} is empty: --to must not be before --from")
    if force:
        return [Planned(edition, True, "forced") for edition in range(start, end + 1)]
    return [
        Planned(edition, not current, reason)
        for edition in range(start, end + 1)
        for current, reason in [is_current(catalog, edition)]
    ]


def skipped_row(catalog: Catalog, edition: int, reason: str) -> dict[str, Any]:
    """The summary row of an edition left as published: its run's facts from its manifest."""
    manifest = read_json(catalog.manifest(edition)) or {}
    return {
        "edition": edition,
        "status": "skipped",
        "duration_s": 0.0,
        "rows": _trade_records(manifest),
        "top_city": city_name(catalog.edition_dir(edition), (manifest.get("summary") or {}).get("top")),
        "run_id": manifest.get("run_id"),
        "flow_run_id": manifest.get("flow_run_id"),
        "reason": reason,
    }


def published_record(catalog: Catalog, attempt: Attempt, run_id: str, top: str | None) -> dict[str, Any]:
    """The run log of a run that published version `run_id`; rows and commit come from its manifest
    (the version's, not the edition's: another run may have published since)."""
    version = catalog.edition_version(attempt.edition, run_id)
    manifest = read_json(catalog.version_manifest(attempt.edition, run_id)) or {}
    return {
        "edition": attempt.edition,
        "reason": attempt.reason,
        "status": "published",
        "run_id": run_id,
        "rows": _trade_records(manifest),
        "top_city": city_name(version, top),
        "git_commit": manifest.get("git_commit"),
    } | _timing(catalog, attempt)


def failed_record(catalog: Catalog, attempt: Attempt, exc: BaseException) -> dict[str, Any]:
    """The run log of a run that raised `exc`: its message, and its traceback unless a data error."""
    return {
        "edition": attempt.edition,
        "reason": attempt.reason,
        "status": "failed",
        "run_id": failed_run_id(catalog, exc, attempt.started_at),
        "error": error_message(exc),
        "error_type": type(exc).__name__,
        "traceback": None if is_data_error(exc) else "".join(traceback.format_exception(exc)),
        "git_commit": manifest_facts.git_commit(),
    } | _timing(catalog, attempt)


def worker_died_record(
    edition: int, reason: str, exc: BaseException, now: datetime | None = None
) -> dict[str, Any]:
    """The run log of an edition whose worker process died: no flow run to ask, a new run id."""
    now = now or datetime.now(UTC)
    return {
        "edition": edition,
        "status": "failed",
        "run_id": new_run_id(now),
        "reason": reason,
        "error": f"the worker process running it died ({type(exc).__name__}: {exc}); {WORKER_DIED_HINT}",
        "error_type": type(exc).__name__,
        "started_at": now.isoformat(),
        "finished_at": now.isoformat(),
        "duration_s": 0.0,
    }


def summary_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run log as a row of the summary table: a failed run's reason is its error."""
    return {column: record.get(column) for column in SUMMARY_COLUMNS} | {
        "reason": record.get("error") or record.get("reason")
    }


def summary_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The backfill's result, one row per edition with `SUMMARY_COLUMNS`; rows is nullable Int64."""
    table = pd.DataFrame(list(rows), columns=list(SUMMARY_COLUMNS))
    table["duration_s"] = table["duration_s"].astype("float64")
    table["rows"] = table["rows"].astype("Int64")
    return table


def failed_run_logs(catalog: Catalog, table: pd.DataFrame) -> list[Path]:
    """The run logs of a summary table's failed editions, for the user to read."""
    return [catalog.run_log(run_id) for run_id in table.loc[table["status"] == "failed", "run_id"]]


def is_data_error(exc: BaseException | None) -> bool:
    """Whether `exc` is about the inputs (or a busy edition), not a bug: the message says it all."""
    return isinstance(exc, (*DATA_ERRORS, EditionBusyError))


def error_message(exc: BaseException) -> str:
    """A data error's own message; anything else is prefixed with its type, as a traceback would."""
    text = str(exc).strip()
    return text if is_data_error(exc) and text else f"{type(exc).__name__}: {text}"


def failed_run_id(catalog: Catalog, exc: BaseException, started: datetime) -> str:
    """The run id the flow used (its folder in `warehouse/runs/`) if it got that far, else a new one."""
    runs = catalog.runs.resolve()
    for path in getattr(exc, "reports", {}).values():
        try:
            parts = Path(path).resolve().relative_to(runs).parts
        except ValueError:
            continue
        if parts:
            return parts[0]
    return new_run_id(started)


def text(value: Any, missing: str = "-") -> str:
    """A table cell: `missing` for None and NaN."""
    return missing if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def headline(message: str, width: int = 160) -> str:
    """A message on one line: a failed validation's count and first failure."""
    line = " ".join(part.strip() for part in message.splitlines()[:2])
    return line if len(line) <= width else line[: width - 3] + "..."


def clip(message: str, lines: int = 4) -> str:
    """The first lines of a long message (a failed validation lists every failure)."""
    parts = message.splitlines()
    more = [f"... and {len(parts) - lines} more lines"] if len(parts) > lines else []
    return "\n".join(parts[:lines] + more)


def short_commit(value: Any) -> str:
    """A git commit as a table shows it: 12 digits, and `+dirty` when the work tree differed."""
    commit = text(value)
    return commit if commit == "-" else commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")


def _timing(catalog: Catalog, attempt: Attempt) -> dict[str, Any]:
    return {
        "duration_s": attempt.duration_s,
        "flow_run_id": attempt.flow_run_id,
        "started_at": attempt.started_at.isoformat(),
        "finished_at": attempt.finished_at.isoformat(),
        "parameters": {
            "edition": attempt.edition,
            "raw_dir": str(catalog.raw),
            "warehouse_dir": str(catalog.warehouse),
            "config_dir": str(catalog.config),
        },
    }


def _trade_records(manifest: Mapping[str, Any]) -> int | None:
    return ((manifest.get("row_counts") or {}).get("inputs") or {}).get("trade_records")
