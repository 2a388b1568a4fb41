"""A second process for the report of a `coopindex run`, started with the run.

The report's city pages (a profile and a rank history per city) are about half of the report
and need nothing the other pages make, so `build_report` draws them in a worker while the
run's own process draws the rest: one core each on a 2-core machine, where the run's process
is otherwise the only one busy by then. A worker pays off only if its start (a fresh
interpreter importing pandas, matplotlib and the report, ~1 s of CPU) is hidden: `coopindex
run` starts it once the temporary server answers (beside the server's start, three processes
on two cores slowed the start by ~0.9 s), so it imports while the first steps run. Flow runs
of a deployment or a backfill start none, and draw every page in their own process.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor

_pool: ProcessPoolExecutor | None = None


def start() -> None:
    """The worker, starting now (its imports run at once, not at the first page)."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        _pool.submit(_import_report)


def current() -> Executor | None:
    """The run's worker, or None when this process started none."""
    return _pool


def stop() -> None:
    """No more work: the worker exits now, while the run prints its results (the exit waits)."""
    if _pool is not None:
        _pool.shutdown(wait=False)


def _import_report() -> None:
    import tasks.report.pages  # noqa: F401
