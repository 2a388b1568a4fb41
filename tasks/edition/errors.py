"""What can stop an edition, sorted by what a user does about it."""

from __future__ import annotations

from tasks.engine.framework import FrameworkError
from tasks.engine.method import MethodError
from tasks.quality.load import LoadError
from tasks.quality.validation import DataValidationError


class EditionBusyError(RuntimeError):
    """Another run holds the edition's lock (see `flows.edition.score_edition`)."""


class MissingInputError(FileNotFoundError):
    """An input the edition needs is not on disk; names what and where."""


# Bad or missing input data: a one-line message, no traceback, nothing published, never retried.
DATA_ERRORS: tuple[type[Exception], ...] = (
    LoadError, FrameworkError, MethodError, DataValidationError, MissingInputError,
)  # fmt: skip
