"""Prefect wiring of the coopindex pipeline: flows and the `coopindex` command line.

Importing this package sets Prefect defaults for an embedded, project-local setup before
Prefect itself is imported (environment variables the user set still win):

- PREFECT_HOME in the project's `.prefect/`, so `make run` needs no server and no home dir;
- the task-run recorder writes in batches: with its default (one record at a time) the
  temporary server is stopped at exit before it has written them, and records are lost
  (PrefectHQ/prefect#16299, measured in shared/notes/field-notes.md);
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
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
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
