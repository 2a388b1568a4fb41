"""Publish an edition to the warehouse atomically: readers see the old edition or the new one.

Every dataset of a run is written into a fresh version folder under `_versions/`; only when
all of them are complete does the edition's entry `edition=N` — a symbolic link — switch to
the new folder, with one `os.replace` (atomic on POSIX). A run that fails before the switch
leaves the published edition as it was. The previous version is kept for one-step rollback.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.warehouse.catalog import Catalog

KEEP_VERSIONS = 2  # the published one and the one before it


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Deterministic Parquet: no index, pandas `str` stored as plain UTF-8 strings, zstd."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema],
        metadata=table.schema.metadata,
    )
    pq.write_table(table.cast(schema), path, compression="zstd")


Dataset = pd.DataFrame | Callable[[Path], Any]


def stage(catalog: Catalog, edition: int, run_id: str, datasets: Mapping[str, Dataset]) -> Path:
    """Write every dataset into a new version folder that no reader sees yet.

    A dataset is a DataFrame, or a function that writes the Parquet file at the path it is
    given: datasets too big for memory are streamed (the edition's trade facts)."""
    version = catalog.versions / str(edition) / run_id
    version.mkdir(parents=True, exist_ok=False)
    try:
        for name, data in datasets.items():
            if isinstance(data, pd.DataFrame):
                write_parquet(data, version / f"{name}.parquet")
            else:
                data(version / f"{name}.parquet")
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    return version


def switch(catalog: Catalog, edition: int, version: Path, manifest: Mapping[str, Any]) -> Path:
    """Add the manifest to a staged version and make it the published edition in one rename."""
    try:
        (version / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        _fsync_dir(version)
        link = catalog.edition_dir(edition)
        staging = link.with_name(f".{link.name}.{version.name}")
        os.symlink(os.path.relpath(version, link.parent), staging)
        os.replace(staging, link)
        _fsync_dir(link.parent)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    _prune(version.parent, keep=version)
    return link


def publish(
    catalog: Catalog,
    edition: int,
    run_id: str,
    datasets: Mapping[str, Dataset],
    manifest: Mapping[str, Any],
) -> Path:
    """Stage `datasets` as a new version, then switch the edition to it."""
    return switch(catalog, edition, stage(catalog, edition, run_id, datasets), manifest)


def published_version(catalog: Catalog, edition: int) -> Path | None:
    """The version folder the edition currently points at, or None if never published."""
    link = catalog.edition_dir(edition)
    return link.resolve() if link.is_symlink() else None


def _prune(folder: Path, keep: Path) -> None:
    versions = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in [v for v in versions if v != keep][KEEP_VERSIONS - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
