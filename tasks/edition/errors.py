"""What can stop an edition, sorted by what a user does about it."""

from __future__ import annotations

from tasks.engine.framework import FrameworkError
from tasks.engine.method import MethodError
from tasks.quality.load import LoadError
from tasks.quality.validation import DataValidationError
from tasks.quality.values import shown


class EditionBusyError(RuntimeError):
    """Another run holds the edition's lock (see `flows.edition.score_edition`)."""


class MissingInputError(FileNotFoundError):
    """An input the edition needs is not on disk; names what and where."""


# Bad or missing input data: a one-line message, no traceback, nothing published, never retried.
DATA_ERRORS: tuple[type[Exception], ...] = (
    LoadError, FrameworkError, MethodError, DataValidationError, MissingInputError,
)  # fmt: skip


ERROR_COLUMNS = ("dataset", "file", "line", "column", "expected", "found", "rows")


def error_rows(exc: BaseException) -> list[dict[str, object]]:
    """What stopped a run, one row per place to fix (`ERROR_COLUMNS`): a failed check at its
    first failing row, a file that cannot be read, or else the bare message."""
    if isinstance(exc, DataValidationError):
        rows = []
        for failure in exc.failures:
            file, line, value = failure.examples[0] if failure.examples else (None, None, None)
            found = shown(value) if failure.examples else failure.observed or "unexpected values"
            rows.append(
                {"dataset": failure.dataset, "file": file, "line": line, "column": failure.column,
                 "expected": failure.expected, "found": found, "rows": failure.unexpected_count}
            )  # fmt: skip
        return rows
    if isinstance(exc, LoadError):
        where = {"file": exc.file, "line": exc.line, "column": exc.column}
        return [dict.fromkeys(ERROR_COLUMNS) | where | {"found": f"{exc.kind.value}: {exc.message}"}]
    return [dict.fromkeys(ERROR_COLUMNS) | {"expected": type(exc).__name__, "found": str(exc)}]
