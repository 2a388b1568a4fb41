"""What every `coopindex` command prints through: one console, one way to fail, quiet data errors."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from typing import NoReturn

from rich.console import Console
from rich.text import Text

# Wide enough for the tables when output goes to a file or a CI log. No emoji codes: a cell
# `root:x:0:0` quoted in a message must print as it is, not as `root❌0:0`.
console = Console(width=None if sys.stdout.isatty() else 160, emoji=False)


def fail(headline: str, exc: BaseException | None = None) -> NoReturn:
    """Print the error (and the exception's message, verbatim) and exit with code 1."""
    console.print(Text.assemble(("error: ", "bold red"), headline), highlight=False)
    if exc is not None:
        console.print(str(exc), highlight=False, soft_wrap=True, markup=False)
    sys.exit(1)


def leave(code: object) -> NoReturn:
    """Exit with `code` (as `sys.exit` reads it) once what a normal exit does first is done,
    in its order: the other non-daemon threads joined and the threads' exit hooks run (Prefect
    drains its log and event workers there, while the temporary server still answers), then
    the exit handlers (the server's stop among them), stdout and stderr flushed; then
    `os._exit`, without the interpreter's teardown of every remaining object."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # both are what Py_FinalizeEx calls
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


class NoTracebackForDataErrors(logging.Filter):
    """Prefect logs a failed run's traceback; for bad input data the one-line message says it all.

    The record is marked `data_error`, and so are the "Finished in state Failed(...)" records
    that repeat a data error's message: the console shows that message once, from the command
    (`OnceOnConsole`), while the Prefect UI keeps every record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from tasks.edition.backfill import is_data_error

        if record.exc_info and is_data_error(record.exc_info[1]):
            record.exc_info, record.exc_text = None, None
            record.data_error = True
        elif record.levelno >= logging.ERROR or "Failed(" in str(record.msg):
            message = record.getMessage()
            names = _data_error_names()
            record.data_error = any(f"{n}(" in message or f"{n}:" in message for n in names)
        return True


class OnceOnConsole(logging.Filter):
    """On a console handler: drop the records that repeat a data error the command will print."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "data_error", False)


def quiet_data_errors() -> None:
    """Drop the tracebacks of data errors from Prefect's flow- and task-run logs (once per logger),
    and their repeats from the console."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoTracebackForDataErrors) for f in logger.filters):
            logger.addFilter(NoTracebackForDataErrors())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OnceOnConsole) for f in handler.filters):
            handler.addFilter(OnceOnConsole())


def _data_error_names() -> set[str]:
    """The data errors' class names, subclasses included (known once their modules are imported)."""
    from tasks.edition.errors import DATA_ERRORS, EditionBusyError

    found, todo = set(), [*DATA_ERRORS, EditionBusyError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found
