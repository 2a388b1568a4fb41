"""A scratch warehouse: a temporary folder that reads the published trade store and into which a
dry run may publish, so that checking inputs leaves the real warehouse untouched."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.warehouse.catalog import Catalog


@contextmanager
def scratch(catalog: Catalog) -> Iterator[Catalog]:
    """`catalog` with its warehouse in a new temporary folder, whose `trade` entry points at the
    published store version (an absolute symlink); the folder is removed afterwards.

    An ingest there links the files it reuses from the published version instead of copying
    them (`tasks.trade.ingest`), and writes new versions only in the scratch folder.
    """
    with tempfile.TemporaryDirectory(prefix="coopindex-scratch-") as folder:
        dry = dataclasses.replace(catalog, warehouse=Path(folder))
        store = catalog.trade_store
        if store.is_symlink():
            os.symlink(store.resolve(), dry.trade_store)
        yield dry
