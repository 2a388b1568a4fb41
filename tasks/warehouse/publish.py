"""Publish a version atomically: readers see the old version or the new one, never a mix.

Editions and the trade store publish the same way. Every file of a run is written into a
fresh version folder under `_versions/<series>/<run_id>/` that no reader sees; once all are
complete they are flushed to disk (fsync), and the series' entry — a symbolic link such as
`edition=2018` or `trade` — switches to the new folder with one `os.replace` (atomic on
POSIX). A run that fails before the switch leaves the published version as it was. Old
versions are pruned after the switch; the one before is kept for one-step rollback.

The manifest is the last file a version gets, so a version folder without one is a staging
that never finished (a run killed with -9 while writing: `staged` had no chance to remove it).
Pruning never keeps such a folder in place of the published version before: it deletes it.
Deleting is safe because a series is staged under its lock (`.locks/`), so no other run is
writing one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.parquet import write_parquet
from tasks.warehouse.catalog import Catalog

KEEP_VERSIONS = 2  # the published one and the one before it
MANIFEST = "manifest.json"  # written last: a version folder without it was never published

Dataset = pd.DataFrame | Callable[[Path], Any]


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time and is unique: UTC to the second, then 8 random hex digits."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


@contextmanager
def staged(series: Path, run_id: str):
    """A new, empty version folder `series/run_id`, removed again if the block fails."""
    version = series / run_id
    version.mkdir(parents=True, exist_ok=False)
    try:
        yield version
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise


def switch(
    link: Path,
    version: Path,
    *,
    keep: int = KEEP_VERSIONS,
    spare_younger_than_s: float = 0,
    at_most: int | None = None,
) -> Path:
    """Flush `version` to disk, point `link` at it in one rename, then prune the series.

    Pruning keeps `keep` published versions (the new one included) and, up to `at_most`
    versions in all, published ones younger than `spare_younger_than_s`: a reader may still
    hold the version it pinned when it started. Folders without a manifest are deleted.
    """
    if link.exists() and not link.is_symlink():
        raise FileExistsError(f"{link} is not a link to a published version: move it away first")
    _fsync_tree(version)
    staging = link.with_name(f".{link.name}.{version.name}")
    os.symlink(os.path.relpath(version, link.parent), staging)
    os.replace(staging, link)
    _fsync_dir(link.parent)
    _prune(version.parent, version, keep, spare_younger_than_s, at_most)
    return link


def stage(catalog: Catalog, edition: int, run_id: str, datasets: Mapping[str, Dataset]) -> Path:
    """Write every dataset of an edition into a new version folder that no reader sees yet.

    A dataset is a DataFrame, or a function that writes the Parquet file at the path it is
    given: datasets too big for memory are streamed (the edition's trade facts)."""
    with staged(catalog.edition_versions(edition), run_id) as version:
        for name, data in datasets.items():
            if isinstance(data, pd.DataFrame):
                write_parquet(data, version / f"{name}.parquet")
            else:
                data(version / f"{name}.parquet")
    return version


def publish_edition(catalog: Catalog, edition: int, version: Path, manifest: Mapping[str, Any]) -> Path:
    """Add the manifest to a staged edition version and make it the published edition."""
    try:
        (version / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        return switch(catalog.edition_dir(edition), version)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise


def publish(
    catalog: Catalog,
    edition: int,
    run_id: str,
    datasets: Mapping[str, Dataset],
    manifest: Mapping[str, Any],
) -> Path:
    """Stage `datasets` as a new version, then switch the edition to it."""
    return publish_edition(catalog, edition, stage(catalog, edition, run_id, datasets), manifest)


def published_version(catalog: Catalog, edition: int) -> Path | None:
    """The version folder the edition currently points at, or None if never published."""
    link = catalog.edition_dir(edition)
    return link.resolve() if link.is_symlink() else None


def _prune(series: Path, keep: Path, count: int, spare_younger_than_s: float, at_most: int | None) -> None:
    """Keep `keep` and the newest `count - 1` other published versions, then recent published
    ones up to `at_most` in all; delete the rest, unfinished stagings included."""
    newest = sorted(
        (v for v in series.iterdir() if v != keep), key=lambda p: p.stat().st_mtime_ns, reverse=True
    )
    published = [v for v in newest if (v / MANIFEST).is_file()]
    kept = {keep, *published[: count - 1]}
    if spare_younger_than_s:
        recent = time.time() - spare_younger_than_s
        young = [v for v in published if v not in kept and v.stat().st_mtime >= recent]
        room = len(young) if at_most is None else max(at_most - len(kept), 0)
        kept.update(young[:room])
    for old in newest:
        if old not in kept:
            shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            _fsync_dir(path)
    _fsync_dir(folder)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
