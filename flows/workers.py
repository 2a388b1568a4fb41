"""A second process for the writes of a `coopindex run` that nothing scored depends on.

The run's Data Docs (~1 s of GX's site builder) and the report's city pages (a profile and a
rank history per city, about half of the report) need nothing the steps after them make, so
the run hands them to a worker and goes on: one core each on a 2-core machine, where the run's
process is otherwise the only one busy by then. A worker pays off only if its start (a fresh
interpreter importing GX, pandas, matplotlib and the report, ~2.5 s of CPU) is hidden:
`coopindex run` starts it once the temporary server answers (beside the server's start, three
processes on two cores slowed the start by ~0.9 s), so it imports while the first steps run,
GX first (the Data Docs come first). Flow runs of a deployment or a backfill start none, and
write everything in their own process.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor

_pool: ProcessPoolExecutor | None = None


def start() -> None:
    """The worker, starting now (its imports run at once, not at the first page)."""
    global _pool
    if _pool is None:
        context = multiprocessing.get_context("spawn")
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_leave_quickly)
        _pool.submit(_import_writers)


def current() -> Executor | None:
    """The run's worker, or None when this process started none."""
    return _pool


def stop() -> None:
    """No more work: the worker exits now, while the run prints its results (the exit waits)."""
    if _pool is not None:
        _pool.shutdown(wait=False)


def _leave_quickly() -> None:
    """The worker exits without the interpreter's teardown of GX, pandas and matplotlib (~0.4 s
    that the run's own exit waited for), as `coopindex` does (flows.console.leave): by the time
    its exit handlers run, it has sent every result."""
    atexit.register(os._exit, 0)


def _import_writers() -> None:
    # tasks.quality first: it defers scipy.stats, which GX imports; then what the Data Docs need.
    for module in ("tasks.quality.data_docs", "great_expectations", "tasks.report.pages"):
        importlib.import_module(module)
