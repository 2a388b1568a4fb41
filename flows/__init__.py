"""Prefect wiring of the coopindex pipeline: flows and the `coopindex` command line.

Importing this package sets Prefect defaults for an embedded, project-local setup before
Prefect itself is imported (environment variables the user set still win):

- PREFECT_HOME in the project's `.prefect/`, so `make run` needs no server and no home dir;
- the task-run recorder writes each record as it arrives (Prefect's default batch of one,
  written out): a temporary server stopped before it has written them loses records
  (PrefectHQ/prefect#16299), so every command that stops one first waits until its runs'
  task runs are recorded (`flows.backfill_runner.wait_for_task_records`). A batch of 100 and
  the shortest flush interval (1 s) kept that wait at 0.3-0.5 s after each run; one at a time,
  ~0.05 s (measured on a warm `coopindex run`);
- no analytics (also removes a "database is locked" traceback on exit);
- the `coopindex` loggers (per-file progress of the trade ingest) in every run's logs.

Set PREFECT_API_URL to use a long-running `prefect server start` instead.
"""

from __future__ import annotations

import logging
import os

from tasks.warehouse.catalog import PROJECT_ROOT

PREFECT_DEFAULTS = {
    "PREFECT_HOME": str(PROJECT_ROOT / ".prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "1",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # The project's own loggers (the trade ingest's per-file progress) go to the run's logs too.
    "PREFECT_LOGGING_EXTRA_LOGGERS": "coopindex",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",  # the same loggers outside a flow run
}
for _name, _value in PREFECT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

# GX announces every temporary docs folder it makes at INFO: noise on a run's console.
logging.getLogger("great_expectations").setLevel(logging.WARNING)
logging.getLogger("coopindex").setLevel(logging.INFO)  # progress: Prefect copies only its handlers
