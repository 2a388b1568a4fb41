"""What every `coopindex` command prints through: one console, one way to fail, quiet data errors."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

from rich.console import Console
from rich.text import Text

from tasks.edition.backfill import is_data_error

# Wide enough for the tables when output goes to a file or a CI log. No emoji codes: a cell
# `root:x:0:0` quoted in a message must print as it is, not as `root❌0:0`.
console = Console(width=None if sys.stdout.isatty() else 160, emoji=False)


def fail(headline: str, exc: BaseException | None = None) -> NoReturn:
    """Print the error (and the exception's message, verbatim) and exit with code 1."""
    console.print(Text.assemble(("error: ", "bold red"), headline), highlight=False)
    if exc is not None:
        console.print(str(exc), highlight=False, soft_wrap=True, markup=False)
    sys.exit(1)


class NoTracebackForDataErrors(logging.Filter):
    """Prefect logs a failed run's traceback; for bad input data the one-line message says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and is_data_error(record.exc_info[1]):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_data_errors() -> None:
    """Drop the tracebacks of data errors from Prefect's flow- and task-run logs (once per logger)."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoTracebackForDataErrors) for f in logger.filters):
            logger.addFilter(NoTracebackForDataErrors())
