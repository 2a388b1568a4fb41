"""Backfill a range of editions: one `score-edition` flow run per edition, a few at a time.

What runs and what each run records is decided in `tasks.edition.backfill`; this module runs
it. With `parallel` 1 the editions run one after another in this process; with more, in that
many spawned worker processes that share this process's Prefect API. Processes, not threads:
an edition's work (pandas, GX) holds the GIL most of the time, so two threads ran at half
speed each (8 editions on 2 cores: 38-57 s with 2 threads, 34-40 s one at a time, 25-37 s
with 2 processes; a worker costs ~5 s to start). Every run stands alone: one that fails
leaves the others, and its own published edition, as they were.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
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

import flows  # noqa: F401 - sets Prefect defaults before Prefect is imported
from tasks.edition.backfill import (
    Attempt,
    failed_record,
    headline,
    plan,
    published_record,
    skipped_row,
    summary_row,
    summary_table,
    text,
    worker_died_record,
)
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.runs import write_run_log


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

    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, not {parallel}")
    catalog = Catalog.at(raw_dir, warehouse_dir, config_dir)
    planned = plan(catalog, start, end, force)
    rows = {p.edition: skipped_row(catalog, p.edition, p.reason) for p in planned if not p.run}
    todo = {p.edition: p.reason for p in planned if p.run}

    # The heartbeat thread would add ~1 s to every flow run (field notes).
    with (
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        _progress(progress and bool(todo), len(todo), f"editions {start}-{end}") as bar,
    ):
        for row in rows.values():
            bar.report(row)
        if parallel == 1 or len(todo) <= 1:
            for edition, reason in todo.items():
                bar.started(edition)
                rows[edition] = _run_edition(catalog, edition, reason)
                bar.report(rows[edition])
        else:
            rows |= _run_in_workers(catalog, todo, min(parallel, len(todo)), bar, quiet=progress)
        if todo:
            wait_for_task_records([rows[e]["flow_run_id"] for e in todo if rows[e]["flow_run_id"]])
    return summary_table(rows[p.edition] for p in planned)


def _run_in_workers(
    catalog: Catalog, reasons: dict[int, str], workers: int, bar: _Bar, quiet: bool
) -> dict[int, dict[str, Any]]:
    """Run the editions in `workers` worker processes, each running one edition after another.

    Workers are spawned (no fork of a process with Prefect's threads), share this process's
    Prefect API and warm their imports once.
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
                        record = worker_died_record(edition, reasons[edition], exc)
                        write_run_log(catalog, record)
                        rows[edition] = summary_row(record)
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
        for handler in _prefect_console_handlers():
            handler.setLevel(logging.CRITICAL)


def _worker_run(api_url: str, catalog: Catalog, edition: int, reason: str) -> dict[str, Any]:
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return _run_edition(catalog, edition, reason)


def _run_edition(catalog: Catalog, edition: int, reason: str) -> dict[str, Any]:
    """One flow run of `score-edition`, its run log written; never raises for a failed run
    (KeyboardInterrupt aside). Returns its summary row."""
    from flows.edition import score_edition

    started, clock = datetime.now(UTC), time.perf_counter()
    flow_run_id: str | None = None
    error: Exception | None = None
    try:
        state = score_edition(
            edition, str(catalog.raw), str(catalog.warehouse), str(catalog.config), return_state=True
        )
        if state.state_details.flow_run_id:
            flow_run_id = str(state.state_details.flow_run_id)
        summary = state.result()  # raises the run's exception if it failed
    except Exception as exc:  # noqa: BLE001 - one failed edition must not stop the others
        error = exc
    duration_s = round(time.perf_counter() - clock, 3)
    attempt = Attempt(edition, reason, started, datetime.now(UTC), duration_s, flow_run_id)
    if error is None:
        record = published_record(catalog, attempt, summary["run_id"], summary.get("top"))
    else:
        record = failed_record(catalog, attempt, error)
    write_run_log(catalog, record)
    return summary_row(record)


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
    flow_run_ids: list[str],
    timeout_s: float = 20,
    settle_s: float = 1.5,
    always: bool = False,
    expected: int | None = None,
) -> None:
    """With the temporary server, wait until it has recorded the runs' task runs before it stops.

    Its task-run recorder writes them from events, in batches; the temporary server is stopped
    when this process exits, and a batch still in flight is lost (with a traceback; field
    notes). Done when `expected` task runs (when the caller knows how many ran) are recorded and
    final, or else when every task run is final and their number has not changed for `settle_s`
    (longer than the recorder's flush interval). A long-running server (PREFECT_API_URL set)
    keeps recording after we exit: nothing to wait for, unless `always` (a temporary server whose
    URL is in PREFECT_API_URL: `flows.ephemeral`, `flows.ingest.shared_api`).
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
            if final and expected is not None and len(task_runs) >= expected:
                return
            if len(task_runs) != seen or not final:
                seen, stable_since = len(task_runs), time.monotonic()
            elif time.monotonic() - stable_since >= settle_s:
                return
            time.sleep(0.1)


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
        reason = escape(headline(text(row["reason"], "")))
        self.progress.console.print(
            f"{mark} {row['edition']} {row['status']}{what}: {reason}", highlight=False
        )

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
    saved = {h: (h.console, h.level) for h in _prefect_console_handlers()}
    for handler in saved:
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


def _prefect_console_handlers() -> set[Any]:
    from prefect.logging.handlers import PrefectConsoleHandler

    return {
        h
        for name in (None, "prefect", "uvicorn", "fastapi")
        for h in logging.getLogger(name).handlers
        if isinstance(h, PrefectConsoleHandler)
    }


def _not_run_logs(record: logging.LogRecord) -> bool:
    return not record.name.startswith(("prefect.flow_runs", "prefect.task_runs"))
