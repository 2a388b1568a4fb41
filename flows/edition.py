"""The edition flow: the declared pipeline (`tasks.edition.pipeline.EDITION`) as Prefect tasks.

Each step becomes a task of the same name; this module adds only what Prefect and the
warehouse need around it: one run per edition at a time (a file lock), retries of steps
that read files when the failure is an I/O fault, timeouts, logs and the UI's artifacts.
"""

from __future__ import annotations

import errno
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.utilities.annotations import opaque

from flows import workers
from flows.artifacts import error_artifacts, publish_artifacts
from tasks.edition.errors import DATA_ERRORS, EditionBusyError
from tasks.edition.outputs import previous_scores, summary_markdown
from tasks.edition.pipeline import EDITION, Step, start
from tasks.warehouse.catalog import Catalog

# OS errors that the same read hits again: a missing or unreadable file is the input's fault.
_PERMANENT = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.ELOOP})


def _transient(task, task_run, state) -> bool:
    """Retry reads that failed for I/O reasons (a busy network share), not for bad data: only an
    OS error with a system error code that a second read may not meet. Decoding errors of
    pyarrow and gzip (a truncated `.csv.gz`) are OSErrors without one, and never retried."""
    try:
        state.result()
    except DATA_ERRORS:
        return False
    except OSError as exc:
        return exc.errno is not None and exc.errno not in _PERMANENT
    except Exception:  # noqa: BLE001 - anything else is not worth retrying
        return False
    return False


def _as_task(step: Step):
    """A step as a Prefect task. DataFrames are arguments: hashing them for a cache key costs
    time and buys nothing (NO_CACHE)."""
    retries = {"retries": 2, "retry_delay_seconds": 1, "retry_condition_fn": _transient}
    return task(
        step.func,
        name=step.name,
        cache_policy=NO_CACHE,
        timeout_seconds=step.timeout_s,
        **(retries if step.reads_files else {}),
    )


TASKS = {step.name: _as_task(step) for step in EDITION.steps}


def _execute(step: Step, args: tuple[Any, ...]) -> Any:
    """Each argument `opaque`: Prefect links it to the task that made it (the run's graph) but
    does not walk into it looking for futures, which for the inputs, checks and datasets (nested
    dataclasses, dicts and lists of GX results) cost seconds a run."""
    return TASKS[step.name](*(opaque(arg) for arg in args))


@flow(name="score-edition", flow_run_name="edition-{edition}", log_prints=True)
def score_edition(
    edition: int = 2018,
    raw_dir: str | None = None,
    warehouse_dir: str | None = None,
    config_dir: str | None = None,
    lock_timeout_s: float = 600,
) -> dict[str, Any]:
    """Score data year `edition` from `raw/` and publish it to `warehouse/edition=<edition>`.

    Two runs of one edition never interleave: the second waits for the first (up to
    `lock_timeout_s`) on a file lock in the warehouse, which the OS releases if a run dies.
    """
    catalog = Catalog.at(raw_dir, warehouse_dir, config_dir)
    lock_file = catalog.lock(f"edition={edition}")
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(lock_file, timeout=lock_timeout_s):
            return _score_edition(catalog, edition)
    except Timeout:
        busy = EditionBusyError(
            f"edition {edition} is being scored by another run "
            f"(waited {lock_timeout_s:.0f} s for its lock {lock_file})"
        )
        if _flow_run_id():
            error_artifacts(edition, busy, {})
        raise busy from None


def _score_edition(catalog: Catalog, edition: int) -> dict[str, Any]:
    data = start(catalog, edition, _flow_run_id(), workers.current())
    seen: dict[str, Any] = {}
    try:
        EDITION.run(data, _execute, after=lambda step, data: _after(step, data, seen))
    except DATA_ERRORS as exc:  # the run's report shows what failed: the CLI prints where it is
        reports = data.get("reports") or data.get("trade_reports") or {}
        if reports:
            exc.reports = {name: str(catalog.warehouse / path) for name, path in reports.items()}
        if data.get("flow_run_id"):
            error_artifacts(edition, exc, _report_links(catalog, reports))
        raise
    manifest = data["manifest"]
    ranking, markdown = summary_markdown(
        manifest, data["datasets"]["scores"], seen["previous"], data["clean"]
    )
    if data["flow_run_id"]:
        links = {"report": catalog.edition_report(edition) / "index.html"}
        links |= _report_links(catalog, manifest["validation"]["reports"])
        publish_artifacts(edition, ranking, markdown, links)
    return manifest["summary"] | {"path": str(data["published"]), "timings_s": data["timings"]}


def _after(step: Step, data: MutableMapping[str, Any], seen: dict[str, Any]) -> None:
    """What the run's log says between steps, and the scores this run is about to replace."""
    logger = get_run_logger()
    if step.name == "ingest-trade" and (report := data["trade_refresh"].report) is not None:
        logger.info(
            "trade store: %d file(s) ingested, %d unchanged", len(report.ingested), len(report.reused)
        )
    elif step.name == "record-validation":
        logger.info(
            "validation report (GX Data Docs): %s", data["catalog"].warehouse / data["reports"]["data_docs"]
        )
    elif step.name == "assemble-manifest":
        seen["previous"] = previous_scores(data["catalog"], data["edition"])
    elif step.name == "publish-edition":
        summary = data["manifest"]["summary"]
        logger.info(
            "published edition %s to %s (%s cities)", data["edition"], data["published"], summary["cities"]
        )


def _report_links(catalog: Catalog, reports: dict[str, str]) -> dict[str, Path]:
    """The run's Data Docs, the reports a link artifact points at (the rest are Parquet files)."""
    return {"data-docs": catalog.warehouse / reports["data_docs"]} if "data_docs" in reports else {}


def _flow_run_id() -> str | None:
    try:
        return str(get_run_context().flow_run.id)
    except Exception:  # noqa: BLE001 - called outside a flow run (flow.fn)
        return None
