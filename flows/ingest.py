"""The trade-ingest flow: raw customs files -> validated clean facts, one Prefect task per file.

`tasks.trade.ingest.update_store` plans (which files are new or changed), and publishes the store
version; this flow only chooses *where* the per-file work runs, through the `mapper` it hands
over: a Prefect task per file on the chosen task runner.

Runners (`--runner`):
- `local` (default): Prefect's process pool on this machine, `--workers` processes;
- `dask`: prefect-dask's `DaskTaskRunner` on a temporary `LocalCluster` of `--workers` worker
  processes, or on an existing cluster with `--dask-address tcp://HOST:8786` (start one with
  `dask scheduler` and `dask worker tcp://HOST:8786 --nworkers 2 --nthreads 1`; workers need
  this project installed and the raw and warehouse folders at the same paths, e.g. a shared
  filesystem).
A task is one file (a month, up to millions of rows): partition-sized work, so the per-task
cost of either runner (milliseconds) does not matter. Every runner calls the same
`tasks.trade.file.ingest_file`, so the outputs are byte-identical.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner

from tasks.trade.file import FileIngest, FileJob
from tasks.trade.ingest import IngestReport, update_store
from tasks.warehouse.catalog import Catalog

Runner = Literal["local", "dask"]
RUNNERS: tuple[str, ...] = ("local", "dask")


@task(name="ingest-trade-file", cache_policy=NO_CACHE, timeout_seconds=3600)
def ingest_one(work: Callable[[FileJob], FileIngest], job: FileJob) -> FileIngest:
    """One raw file; `work` is `tasks.trade.ingest.ingest_and_write`, references and version bound."""
    return work(job)


def _prefect_map(work: Callable[[FileJob], FileIngest], jobs: Sequence[FileJob]) -> list[FileIngest]:
    futures = [ingest_one.with_options(task_run_name=f"ingest {job.key}").submit(work, job) for job in jobs]
    return [future.result() for future in futures]


@flow(name="ingest-trade", log_prints=True)
def ingest_trade_flow(
    years: list[int] | None = None,
    raw_dir: str | None = None,
    warehouse_dir: str | None = None,
    config_dir: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Ingest new and changed trade files of `years` (all when None) into `warehouse/trade`."""
    catalog = Catalog.at(raw_dir, warehouse_dir, config_dir)
    report = update_store(catalog, years, force=force, mapper=_prefect_map)
    get_run_logger().info(
        "trade store %s: %d file(s) ingested, %d reused, %d rows in, %d quarantined",
        report.version, len(report.ingested), len(report.reused), report.rows_in, report.rows_quarantined,
    )  # fmt: skip
    create_markdown_artifact(key="trade-ingest-summary", markdown=summary_markdown(report))
    return summary(report)


def with_runner(runner: Runner = "local", workers: int = 2, dask_address: str | None = None):
    """The ingest flow on the chosen task runner."""
    return ingest_trade_flow.with_options(task_runner=task_runner(runner, workers, dask_address))


@contextmanager
def shared_api() -> Iterator[str]:
    """One Prefect API for this process and its worker processes; yields its URL.

    Without PREFECT_API_URL, Prefect starts a temporary server in *every* process that runs a
    task: each worker process would start its own (seconds each) and the runs would be
    scattered. So the URL is put in the environment the workers inherit, starting the
    temporary server here first when there is none: the same process-wide instance Prefect
    would start, stopped by Prefect at exit (wait for the task runs to be recorded before
    that: `flows.backfill_runner.wait_for_task_records(..., always=True)`).
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = os.environ.get("PREFECT_API_URL")
    url = PREFECT_API_URL.value()
    if not url:
        server = SubprocessASGIServer()
        server.start()
        url = server.api_url
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before


def task_runner(runner: Runner, workers: int, dask_address: str | None) -> TaskRunner:
    if runner == "local":
        if dask_address:
            raise ValueError("--dask-address needs --runner dask")
        return ProcessPoolTaskRunner(max_workers=workers)
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    raise ValueError(f"unknown runner {runner!r}: expected one of {', '.join(RUNNERS)}")


def summary(report: IngestReport) -> dict[str, Any]:
    """The report as the flow's (JSON-friendly) result."""
    fields = dataclasses.asdict(report)
    return fields | {"store": str(fields.pop("version")), "seconds": round(report.seconds, 3)}


def summary_markdown(report: IngestReport) -> str:
    lines = [
        "# Trade store refreshed",
        f"- {len(report.ingested)} file(s) ingested, {len(report.reused)} reused unchanged, "
        f"{len(report.dropped)} dropped (gone from raw/)",
        f"- rows: {report.rows_in:,} in, {report.rows_clean:,} clean, "
        f"{report.rows_quarantined:,} quarantined",
        f"- store: `{Path(report.version)}` (facts/, city_year.parquet, quarantine.parquet, manifest.json)",
    ]
    lines += [f"  - ingested {key}" for key in report.ingested[:24]]
    return "\n".join(lines)
