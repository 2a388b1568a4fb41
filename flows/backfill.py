"""Backfill a range of editions: one `score-edition` flow run per edition, a few at a time.

Editions that are current (same input checksums and method version as published, see
`tasks.warehouse.runs.is_current`) are skipped unless forced. With `parallel` 1 the editions run one
after another in this process; with more, in that many spawned worker processes that share
this process's Prefect API. Processes, not threads: an edition's work (pandas, GX) holds the
GIL most of the time, so two threads ran at half speed each (8 editions on 2 cores: 38-57 s
with 2 threads, 34-40 s one at a time, 25-37 s with 2 processes; a worker costs ~5 s to start).
Every run stands alone: one that fails leaves the others, and its own published edition, as
they were. Each run is recorded in `warehouse/runs/<run_id>/run.json`, which `coopindex runs`
reads with the manifests.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

import flows  # noqa: F401 - sets Prefect defaults before Prefect is imported
from flows.options import ConfigDir, RawDir, WarehouseDir, path_text
from tasks.edition.inputs import is_current
from tasks.warehouse import manifest as manifest_facts
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.publish import new_run_id
from tasks.warehouse.runs import city_name, list_runs, write_run_log

SUMMARY_COLUMNS = ("edition", "status", "duration_s", "rows", "top_city", "run_id", "flow_run_id", "reason")
# Wide enough for the tables when output goes to a file or a CI log.
console = Console(width=None if sys.stdout.isatty() else 160)


def backfill(
    start: int,
    end: int,
    parallel: int = 1,
    force: bool = False,
    raw_dir: str | None = None,
    warehouse_dir: str | None = None,
    config_dir: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score and publish editions `start`..`end`, skipping current ones unless `force`.

    Runs up to `parallel` editions at once, in worker processes (spawned: a script calling this
    with `parallel` > 1 needs an `if __name__ == "__main__":` guard). Returns one row per
    edition, in edition order: edition, status ("published", "skipped" or "failed"),
    duration_s, rows (trade records read), top_city, run_id, flow_run_id, reason (why it ran
    or was skipped; the error for a failed one). A failed edition raises nothing here.

    With `progress`, a progress bar on stderr, one line per finished edition above it, and
    Prefect's own console logs only from WARNING up (every log is still sent to the Prefect API).
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if end < start:
        raise ValueError(f"the range {start}..{end} is empty: --to must not be before --from")
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, not {parallel}")
    catalog = Catalog.at(raw_dir, warehouse_dir, config_dir)
    editions = list(range(start, end + 1))
    plan = {e: (False, "forced") if force else is_current(catalog, e) for e in editions}
    rows = {e: _skipped(catalog, e, reason) for e, (current, reason) in plan.items() if current}
    todo = [e for e in editions if not plan[e][0]]

    # The heartbeat thread would add ~1 s to every flow run (field notes).
    with (
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        _progress(progress and bool(todo), len(todo), f"editions {start}-{end}") as bar,
    ):
        for edition in rows:
            bar.report(rows[edition])
        if parallel == 1 or len(todo) <= 1:
            for edition in todo:
                bar.started(edition)
                rows[edition] = _run_edition(catalog, edition, plan[edition][1])
                bar.report(rows[edition])
        else:
            reasons = {e: plan[e][1] for e in todo}
            rows |= _run_in_workers(catalog, reasons, min(parallel, len(todo)), bar, quiet=progress)
        if todo:
            wait_for_task_records([rows[e]["flow_run_id"] for e in todo if rows[e]["flow_run_id"]])
    table = pd.DataFrame([rows[e] for e in editions], columns=list(SUMMARY_COLUMNS))
    table["duration_s"] = table["duration_s"].astype("float64")
    table["rows"] = table["rows"].astype("Int64")
    return table


def _run_in_workers(
    catalog: Catalog, reasons: dict[int, str], workers: int, bar: _Bar, quiet: bool
) -> dict[int, dict[str, Any]]:
    """Run the editions in `workers` worker processes, each running one edition after another.

    Processes, not threads: an edition's work holds the GIL most of the time (pandas, GX), so
    threads run side by side at half speed each. Workers are spawned (no fork of a process
    with Prefect's threads), share this process's Prefect API and warm their imports once.
    """
    api_url = _start_api()
    context = multiprocessing.get_context("spawn")
    rows: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(quiet,)
    ) as pool:
        futures = {pool.submit(_worker_run, api_url, catalog, e, reason): e for e, reason in reasons.items()}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    edition = futures[future]
                    try:
                        rows[edition] = future.result()
                    except Exception as exc:  # noqa: BLE001 - the worker died (BrokenProcessPool)
                        rows[edition] = _worker_died(catalog, edition, reasons[edition], exc)
                    bar.report(rows[edition])
                for future in pending:
                    if future.running():
                        bar.started(futures[future])
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return rows


def _worker_init(quiet: bool) -> None:
    """Import the flow once per worker; with a progress bar, keep Prefect's console quiet."""
    import flows.edition  # noqa: F401 - warm imports; Prefect sets up its logging here

    if quiet:
        from prefect.logging.handlers import PrefectConsoleHandler

        for name in (None, "prefect", "uvicorn", "fastapi"):
            for handler in logging.getLogger(name).handlers:
                if isinstance(handler, PrefectConsoleHandler):
                    handler.setLevel(logging.CRITICAL)


def _worker_run(api_url: str, catalog: Catalog, edition: int, reason: str) -> dict[str, Any]:
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return _run_edition(catalog, edition, reason)


def _worker_died(catalog: Catalog, edition: int, reason: str, exc: Exception) -> dict[str, Any]:
    now = datetime.now(UTC)
    record = {
        "edition": edition,
        "status": "failed",
        "run_id": new_run_id(now),
        "reason": reason,
        "error": f"the worker process running it died ({type(exc).__name__}: {exc}); a script that "
        "calls backfill(parallel > 1) needs an `if __name__ == '__main__':` guard",
        "error_type": type(exc).__name__,
        "started_at": now.isoformat(),
        "finished_at": now.isoformat(),
        "duration_s": 0.0,
    }
    write_run_log(catalog, record)
    return {column: record.get(column) for column in SUMMARY_COLUMNS} | {"reason": record["error"]}


def _run_edition(catalog: Catalog, edition: int, reason: str) -> dict[str, Any]:
    """One flow run of `score-edition`; never raises for a failed run (KeyboardInterrupt aside)."""
    from flows.edition import score_edition

    started, clock = datetime.now(UTC), time.perf_counter()
    flow_run_id: str | None = None
    record: dict[str, Any] = {"edition": edition, "reason": reason}
    try:
        state = score_edition(
            edition, str(catalog.raw), str(catalog.warehouse), str(catalog.config), return_state=True
        )
        if state.state_details.flow_run_id:
            flow_run_id = str(state.state_details.flow_run_id)
        summary = state.result()  # raises the run's exception if it failed
    except Exception as exc:  # noqa: BLE001 - one failed edition must not stop the others
        record |= {
            "status": "failed",
            "run_id": _failed_run_id(catalog, exc, started),
            "error": _message(exc),
            "error_type": type(exc).__name__,
            "traceback": None if _is_data_error(exc) else traceback.format_exc(),
            "git_commit": manifest_facts.git_commit(),
        }
    else:
        version = catalog.edition_versions(edition) / summary["run_id"]
        manifest = _read_manifest(version / "manifest.json")
        record |= {
            "status": "published",
            "run_id": summary["run_id"],
            "rows": manifest.get("row_counts", {}).get("inputs", {}).get("trade_records"),
            "top_city": city_name(version, summary.get("top")),
            "git_commit": manifest.get("git_commit"),
        }
    record |= {
        "duration_s": round(time.perf_counter() - clock, 3),
        "flow_run_id": flow_run_id,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "parameters": {
            "edition": edition,
            "raw_dir": str(catalog.raw),
            "warehouse_dir": str(catalog.warehouse),
            "config_dir": str(catalog.config),
        },
    }
    write_run_log(catalog, record)
    return {column: record.get(column) for column in SUMMARY_COLUMNS} | {
        "reason": record.get("error") or reason
    }


def _skipped(catalog: Catalog, edition: int, reason: str) -> dict[str, Any]:
    manifest = _read_manifest(catalog.manifest(edition))
    code = manifest.get("summary", {}).get("top")
    return {
        "edition": edition,
        "status": "skipped",
        "duration_s": 0.0,
        "rows": manifest.get("row_counts", {}).get("inputs", {}).get("trade_records"),
        "top_city": city_name(catalog.edition_dir(edition), code),
        "run_id": manifest.get("run_id"),
        "flow_run_id": manifest.get("flow_run_id"),
        "reason": reason,
    }


def _start_api() -> str:
    """The Prefect API's URL for worker processes: PREFECT_API_URL, or else the temporary
    server of this process, started now (and stopped when this process exits)."""
    from prefect.client.orchestration import get_client
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return PREFECT_API_URL.value()
    with get_client(sync_client=True) as client:
        client.api_healthcheck()
    return SubprocessASGIServer().api_url


def wait_for_task_records(
    flow_run_ids: list[str], timeout_s: float = 20, settle_s: float = 1.5, always: bool = False
) -> None:
    """With the temporary server, wait until it has recorded the runs' task runs before it stops.

    Its task-run recorder writes them from events, in batches; the temporary server is stopped
    when this process exits, and a batch still in flight is lost (with a traceback; field
    notes). Done when every task run of these flow runs is final and their number has not
    changed for `settle_s` (longer than the recorder's flush interval). A long-running server
    (PREFECT_API_URL set) keeps recording after we exit: nothing to wait for, unless `always`
    (a temporary server whose URL was exported for worker processes, `flows.ingest.shared_api`).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL

    if (PREFECT_API_URL.value() and not always) or not flow_run_ids:
        return
    runs = FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(i) for i in flow_run_ids]))
    deadline, seen, stable_since = time.monotonic() + timeout_s, -1, time.monotonic()
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            task_runs = client.read_task_runs(flow_run_filter=runs)
            final = all(t.state is not None and t.state.is_final() for t in task_runs)
            if len(task_runs) != seen or not final:
                seen, stable_since = len(task_runs), time.monotonic()
            elif time.monotonic() - stable_since >= settle_s:
                return
            time.sleep(0.25)


def _failed_run_id(catalog: Catalog, exc: Exception, started: datetime) -> str:
    """The run id the flow used (its reports folder) when it got that far, else a new one."""
    for path in getattr(exc, "reports", {}).values():
        try:
            parts = Path(path).resolve().relative_to(catalog.warehouse.resolve()).parts
        except ValueError:
            continue
        if len(parts) > 1 and parts[0] == "runs":
            return parts[1]
    return new_run_id(started)


def _is_data_error(exc: Exception) -> bool:
    from tasks.edition.errors import DATA_ERRORS, EditionBusyError, MissingInputError

    return isinstance(exc, (*DATA_ERRORS, MissingInputError, EditionBusyError))


def _message(exc: Exception) -> str:
    text = str(exc).strip()
    return text if _is_data_error(exc) and text else f"{type(exc).__name__}: {text}"


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# --- progress -----------------------------------------------------------------------------


class _Bar:
    """Progress of a backfill; silent unless given a rich Progress."""

    def __init__(self, progress: Progress | None = None, label: str = "", total: int = 0) -> None:
        self.progress, self.label = progress, label
        self.running: set[int] = set()
        self.task = progress.add_task(label, total=total or None) if progress else None

    def started(self, edition: int) -> None:
        if edition not in self.running:
            self.running.add(edition)
            self._describe()

    def report(self, row: dict[str, Any]) -> None:
        if self.progress is None:
            return
        self.running.discard(row["edition"])
        if row["status"] != "skipped":
            self.progress.advance(self.task)
        self._describe()
        mark = {"published": "[green]✓[/]", "skipped": "[dim]·[/]", "failed": "[red]✗[/]"}[row["status"]]
        what = f" in {row['duration_s']:.1f} s, top {row['top_city']}" if row["status"] == "published" else ""
        reason = escape(_headline(_text(row["reason"], "")))
        line = f"{mark} {row['edition']} {row['status']}{what}: {reason}"
        self.progress.console.print(line, highlight=False)

    def _describe(self) -> None:
        if self.progress is not None:
            running = ", ".join(map(str, sorted(self.running)))
            self.progress.update(self.task, description=f"{self.label}: {running or 'done'}")


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[_Bar]:
    if not enabled:
        yield _Bar()
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with ExitStack() as stack:
        progress = stack.enter_context(Progress(*columns, console=Console(stderr=True)))
        stack.enter_context(_prefect_console(progress.console))
        yield _Bar(progress, label, total)


@contextmanager
def _prefect_console(target: Console) -> Iterator[None]:
    """Prefect's console logs above the progress bar, not through it: from WARNING up, and not
    the edition runs' own logs (the backfill reports each run; all logs are in the Prefect API)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    handlers = {
        h
        for name in (None, "prefect", "uvicorn", "fastapi")
        for h in logging.getLogger(name).handlers
        if isinstance(h, PrefectConsoleHandler)
    }
    saved = {h: (h.console, h.level) for h in handlers}
    for handler in handlers:
        handler.console = target
        handler.setLevel(max(handler.level, logging.WARNING))
        handler.addFilter(_not_run_logs)
    try:
        yield
    finally:
        for handler, (old_console, level) in saved.items():
            handler.console = old_console
            handler.setLevel(level)
            handler.removeFilter(_not_run_logs)


def _not_run_logs(record: logging.LogRecord) -> bool:
    return not record.name.startswith(("prefect.flow_runs", "prefect.task_runs"))


# --- command line -------------------------------------------------------------------------


def backfill_command(
    start: Annotated[
        int | None,
        typer.Option("--from", help="First edition (data year); default: the first year in raw/trade/."),
    ] = None,
    end: Annotated[
        int | None,
        typer.Option("--to", help="Last edition, included; default: the last year in raw/trade/."),
    ] = None,
    parallel: Annotated[
        int,
        typer.Option(
            "--parallel",
            "-p",
            min=1,
            help="Editions run at once, each in a worker process (worth it with idle cores; ~5 s to start).",
        ),
    ] = 1,
    force: Annotated[
        bool, typer.Option("--force", help="Rerun editions whose inputs and method are unchanged too.")
    ] = False,
    raw: RawDir = None,
    warehouse: WarehouseDir = None,
    config: ConfigDir = None,
) -> None:
    """Score and publish a range of editions, one Prefect flow run each, then print a summary table.

    Skips an edition that is published from the same files (sha256) and the same method version.

    --force reruns every edition in the range: do that after changing the code.

    A failed edition does not stop the others; the exit code is 1 if any edition failed.
    """
    from flows.cli import _quiet_data_errors
    catalog = Catalog.at(path_text(raw), path_text(warehouse), path_text(config))
    years = sorted(int(p.name) for p in (catalog.raw / "trade").glob("[0-9][0-9][0-9][0-9]") if p.is_dir())
    if (start is None or end is None) and not years:
        _fail(f"no trade data in {catalog.raw / 'trade'}: give --from and --to")
    start = years[0] if start is None else start
    end = years[-1] if end is None else end
    if end < start:
        _fail(f"--to {end} is before --from {start}")
    _quiet_data_errors()
    table = backfill(
        start, end, parallel, force, path_text(raw), path_text(warehouse), path_text(config), progress=True
    )
    view = Table(title=f"Backfill of editions {start}-{end}")
    for column, justify in (("edition", "right"), ("status", "left"), ("duration", "right"),
                            ("trade rows", "right"), ("top city", "left"), ("reason", "left")):  # fmt: skip
        view.add_column(column, justify=justify)
    colours = {"published": "green", "skipped": "dim", "failed": "red"}
    for row in table.itertuples(index=False):
        view.add_row(
            str(row.edition),
            f"[{colours[row.status]}]{row.status}[/]",
            f"{row.duration_s:.1f} s",
            "-" if pd.isna(row.rows) else f"{row.rows:,}",
            _text(row.top_city),
            escape(_clip(_text(row.reason, ""))),
        )
    console.print(view)
    counts = table["status"].value_counts()
    console.print(", ".join(f"{counts.get(s, 0)} {s}" for s in ("published", "skipped", "failed")))
    if counts.get("failed", 0):
        console.print("run logs: " + ", ".join(
            str(catalog.run_dir(r) / "run.json") for r in table.loc[table["status"] == "failed", "run_id"]
        ), highlight=False, soft_wrap=True)  # fmt: skip
        sys.exit(1)


def runs_command(
    warehouse: WarehouseDir = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to show.")] = 20,
) -> None:
    """List recent edition runs, newest first, from the warehouse's manifests and backfill run logs.

    Status: published (what the edition shows), superseded (kept before it), replaced (deleted), failed.

    The errors of failed runs follow the table.
    """
    catalog = Catalog.at(None, path_text(warehouse), None)
    runs = list_runs(catalog).head(limit)
    if runs.empty:
        console.print(f"no runs in {catalog.warehouse}", highlight=False)
        return
    view = Table(title=f"Recent runs in {catalog.warehouse}")
    for column in ("started (UTC)", "edition", "status", "duration", "top city", "run id", "flow run id",
                   "git commit"):  # fmt: skip
        view.add_column(column, justify="right" if column in ("edition", "duration") else "left")
    colours = {"published": "green", "superseded": "default", "replaced": "dim", "failed": "red"}
    for row in runs.itertuples(index=False):
        view.add_row(
            "-" if pd.isna(row.started_at) else row.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            "-" if pd.isna(row.edition) else str(row.edition),
            f"[{colours.get(row.status, 'default')}]{row.status}[/]",
            "-" if pd.isna(row.duration_s) else f"{row.duration_s:.1f} s",
            _text(row.top_city),
            _text(row.run_id),
            _text(row.flow_run_id),
            _commit(row.git_commit),
        )
    console.print(view)
    for row in runs[runs["status"] == "failed"].itertuples(index=False):
        message = escape(_clip(_text(row.error, "failed").strip()))
        console.print(f"[red]{row.run_id}[/] (edition {row.edition}): {message}", highlight=False)


def _text(value: Any, missing: str = "-") -> str:
    return missing if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _headline(text: str, width: int = 160) -> str:
    """A message on one line: a failed validation's count and first failure."""
    line = " ".join(part.strip() for part in text.splitlines()[:2])
    return line if len(line) <= width else line[: width - 3] + "..."


def _clip(text: str, lines: int = 4) -> str:
    """The first lines of a long message (a failed validation lists every failure)."""
    parts = text.splitlines()
    return "\n".join(
        parts[:lines] + ([f"... and {len(parts) - lines} more lines"] if len(parts) > lines else [])
    )


def _commit(value: Any) -> str:
    text = _text(value)
    return text[:12] + ("+dirty" if text.endswith("+dirty") else "") if text != "-" else text


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(1)
