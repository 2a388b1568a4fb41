"""Ingest raw trade files into the clean trade store, published as one consistent version.

Layout (`warehouse/trade` is a symbolic link, switched atomically like an edition's):

    warehouse/trade/ -> _versions/trade/<run_id>/
        facts/year=YYYY/month=MM/<file>-<batch>.parquet   clean records in CNY (hive partitions)
        aggregates/<file>.parquet     per file: year, month, city, partner, flow sums
        quality/<file>.validation.parquet, quality/<file>.quarantine.parquet
        city_partner_month.parquet    all files' aggregates
        city_year.parquet             year, city_code, exports_cny, imports_cny, partner_countries
        validation.parquet, quarantine.parquet   every file's checks and set-aside rows
        manifest.json                 per file: checksum, fingerprint, rows, the files above

Incremental: a file whose checksum and references fingerprint (cities, members, FX rates, the
suite, the quarantine share) match the published manifest is not read again; its files are
hard-linked into the new version (no copy, same filesystem). New or changed files are
ingested; files gone from `raw/` drop out. A run with a blocked or malformed file publishes
nothing and the previous version stays. Readers pick a version once (`current_store`) and read
only the files its manifest lists.

`update_store` runs it all with a process pool; `flows/ingest.py` does the same with a
Prefect task runner (a process pool or Dask) through the `mapper` argument.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from tasks.engine.method import read_method
from tasks.parquet import write_parquet
from tasks.quality import load
from tasks.quality.quarantine import stack_quarantined
from tasks.quality.results import results_table
from tasks.quality.validation import DataValidationError, Failure
from tasks.trade import stream
from tasks.trade.aggregates import combine
from tasks.trade.figures import city_year
from tasks.trade.file import (
    FileIngest,
    FileJob,
    References,
    ingest_file,
    use_system_allocator,
)
from tasks.trade.fx import missing_rates
from tasks.trade.references import INGEST_VERSION, read_references
from tasks.trade.store import current_store, published
from tasks.warehouse.catalog import TRADE_SUFFIXES, Catalog, trade_file_pattern
from tasks.warehouse.manifest import sha256
from tasks.warehouse.publish import new_run_id, staged, switch

log = logging.getLogger("coopindex.trade")

# Store versions kept: the published one and the one before, and those younger than an hour (an
# edition may still read the facts it pinned), but never more than MAX_VERSIONS: forced ingests
# in a row would otherwise keep every one (47 versions of ~9 MB were seen).
PRUNE_AFTER_S = 3600
MAX_VERSIONS = 5
RACY_NS = 2_000_000_000  # a file's stat is trusted if it was modified this long before it was hashed

Mapper = Callable[[Callable[[FileJob], FileIngest], Sequence[FileJob]], list[FileIngest]]


class BlockedFilesError(DataValidationError):
    """Trade files that failed table-level checks or have too many bad rows; `files` holds
    their checks and rows for the run's report (nothing of them reaches the store)."""

    def __init__(self, failures: Iterable[Failure], files: Sequence[FileIngest] = ()):
        super().__init__(failures)
        self.files = list(files)

    def __reduce__(self) -> tuple[type[BlockedFilesError], tuple[list[Failure], list[FileIngest]]]:
        return (type(self), (self.failures, self.files))


@dataclass
class IngestReport:
    """What a run did, for the CLI, the flow's artifact and the benchmark."""

    version: Path
    ingested: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    rows_in: int = 0
    rows_clean: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0


def trade_years(catalog: Catalog, years: Iterable[int] | None = None) -> list[int]:
    """`years`, or when None every year folder of raw/trade."""
    return sorted(set(years)) if years is not None else catalog.trade_years()


def trade_jobs(
    catalog: Catalog, years: Iterable[int] | None = None, known: dict[str, dict] | None = None
) -> list[FileJob]:
    """The raw trade files of `years` (all year folders when None), checked and checksummed.

    A file that `known` (the published manifest's entries) saw with the same size and mtime,
    modified well before it was hashed, keeps its checksum unread, as git's index does: a
    monthly refresh does not re-read gigabytes of unchanged months. Others are hashed on
    threads (hashlib releases the GIL, so this runs beside the references' checks).
    """
    found = []
    for year in trade_years(catalog, years):
        folder = catalog.trade_folder(year)
        label = catalog.relative(folder)
        allowed = sorted({"." + s.rsplit(".", 1)[1] for s in TRADE_SUFFIXES})  # ".gz": the pattern says which
        load.check_folder(folder, label, allowed=allowed, pattern=trade_file_pattern(year))
        files = catalog.trade_files(year)
        load.check_inside(files, catalog.raw)
        months = [p.name[:7] for p in files]
        twice = sorted({m for m in months if months.count(m) > 1})
        if twice:
            raise load.LoadError(label, f"expected one file per month, found {twice[0]} in two formats",
                                 kind=load.Kind.UNSUPPORTED_FILE)  # fmt: skip
        found += [(path, f"{year}/{path.name}") for path in files]
    with ThreadPoolExecutor(max_workers=2) as hashing:
        return list(hashing.map(lambda f: _job(catalog, *f, (known or {}).get(f[1])), found))


def _job(catalog: Catalog, path: Path, key: str, entry: dict | None) -> FileJob:
    stat = path.stat()
    seen = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if (
        entry is not None
        and all(entry.get(k) == v for k, v in seen.items())
        and stat.st_mtime_ns < entry.get("hashed_ns", 0) - RACY_NS
    ):
        checksum, seen["hashed_ns"] = entry["checksum"], entry["hashed_ns"]
    else:
        seen["hashed_ns"] = time.time_ns()  # before reading: a change while hashing has a later mtime
        checksum = sha256(path)
    return FileJob(path, catalog.relative(path), key, checksum, seen)


def update_store(
    catalog: Catalog,
    years: list[int] | None = None,
    workers: int = 2,
    force: bool = False,
    mapper: Mapper | None = None,
    block_bytes: int = stream.BLOCK_BYTES,
    lock_timeout_s: float = 3600,
) -> IngestReport:
    """Ingest new and changed trade files of `years` (all when None) and publish the store's next
    version; files of other years stay as they are. Nothing to do: nothing is written.

    Raises `LoadError` for the first malformed file and `DataValidationError` for files that
    fail table-level checks or have too many bad rows; the published store is then unchanged.
    One run at a time per warehouse (a file lock), so that editions scored in parallel can share it.
    """
    started = time.perf_counter()
    use_system_allocator()  # before any Arrow work; workers forked from here inherit it
    max_share = read_method(catalog.method).quality.quarantine_max_share
    lock = catalog.lock("trade")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock, timeout=lock_timeout_s):
        previous = published(catalog)
        old: dict[str, dict] = previous["files"] if previous else {}
        wanted = trade_years(catalog, years)
        with ThreadPoolExecutor(max_workers=1) as planning:  # checksums while GX checks the references
            planned = planning.submit(trade_jobs, catalog, wanted, None if force else old)
            try:
                passed = None if force or previous is None else previous.get("references_checked")
                references = read_references(catalog, wanted, max_share, passed)
            except Exception:
                planned.result()  # a malformed trade folder is reported first, as before
                raise
            jobs = planned.result()
        todo = [j for j in jobs if force or _stale(old.get(j.key), j, references)]
        asked = {j.key for j in jobs}
        other_years = {k: e for k, e in old.items() if years is not None and int(k[:4]) not in years}
        kept = {j.key: old[j.key] for j in jobs if j not in todo} | other_years
        dropped = sorted(set(old) - asked - set(other_years))
        if todo or dropped or previous is None:
            results = _publish(catalog, todo, kept, references, mapper or partial(pool_map, workers=workers),
                               block_bytes)  # fmt: skip
        else:
            results = []
    files = (published(catalog) or {"files": {}})["files"]
    report = IngestReport(catalog.trade_store, [r.key for r in results], sorted(set(kept) & asked))
    report.dropped = dropped
    report.rows_in = sum(files[k]["rows_in"] for k in asked)
    report.rows_clean = sum(files[k]["rows_clean"] for k in asked)
    report.rows_quarantined = sum(files[k]["rows_quarantined"] for k in asked)
    report.seconds = time.perf_counter() - started
    return report


def _publish(
    catalog: Catalog,
    todo: list[FileJob],
    kept: dict[str, dict],
    references: References,
    mapper: Mapper,
    block_bytes: int,
) -> list[FileIngest]:
    """Build the next version (reused files linked, the others ingested) and switch to it."""
    with staged(catalog.trade_versions, new_run_id()) as version:
        _link(current_store(catalog), version, kept.values())
        work = partial(ingest_and_write, references=references, version=version, block_bytes=block_bytes)
        results = mapper(work, todo)
        malformed = [r.error for r in results if r.error is not None]
        if malformed:
            raise malformed[0]
        blocked = [r for r in results if r.blocking]
        if blocked:
            raise BlockedFilesError(missing_rates(catalog.relative(catalog.fx_rates), blocked), blocked)
        entries = dict(kept) | {r.key: r.entry for r in results}
        _finish(version, {k: entries[k] for k in sorted(entries)}, references)
        switch(catalog.trade_store, version, spare_younger_than_s=PRUNE_AFTER_S, at_most=MAX_VERSIONS)
    return results


def ingest_and_write(
    job: FileJob, references: References, version: Path, block_bytes: int = stream.BLOCK_BYTES
) -> FileIngest:
    """`ingest_file`, and where the file is good, its aggregates and quality tables written next
    to its facts by the worker itself: what returns to the parent is a summary (its manifest
    entry), so the parent's memory does not grow with the number or size of the files."""
    result = ingest_file(job, references, version, block_bytes)
    if result.ok:
        result.entry = _write_file(version, result, references) | job.seen
        result.aggregates, result.gx_results = result.aggregates.iloc[:0].copy(), []  # not a view
    return result


def pool_map(
    work: Callable[[FileJob], FileIngest], jobs: Sequence[FileJob], workers: int = 2
) -> list[FileIngest]:
    """Files in parallel worker processes (forked: GX is imported once, in the parent), each
    logged as it is done (`coopindex.trade`: the console and the Prefect run's logs)."""
    if workers <= 1 or len(jobs) <= 1:
        return [_done(work(j), i, len(jobs)) for i, j in enumerate(jobs, 1)]
    context = get_context("fork") if "fork" in get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = [pool.submit(work, j) for j in jobs]
        for i, future in enumerate(as_completed(futures), 1):
            _done(future.result(), i, len(jobs))
        return [f.result() for f in futures]


def _done(result: FileIngest, number: int, total: int) -> FileIngest:
    counts = f"{result.rows_in:,} rows, {result.rows_quarantined:,} quarantined"
    state = "malformed" if result.error else counts
    log.info("trade file %d/%d: %s (%s)", number, total, result.label, state)
    return result


# --- helpers -----------------------------------------------------------------------------


def _stale(entry: dict | None, job: FileJob, references: References) -> bool:
    return (
        entry is None or entry["checksum"] != job.checksum or entry["fingerprint"] != references.fingerprint
    )


def _write_file(version: Path, result: FileIngest, references: References) -> dict[str, Any]:
    """The file's aggregates and quality tables next to its facts; its manifest entry."""
    name = result.key.replace("/", "_")
    files = {
        "aggregates": f"aggregates/{name}.parquet",
        "validation": f"quality/{name}.validation.parquet",
        "quarantine": f"quality/{name}.quarantine.parquet",
        "gx_results": f"quality/{name}.gx.json",
    }
    frames = {
        "aggregates": result.aggregates,
        "validation": result.results.assign(file=result.label),
        "quarantine": result.quarantine,
    }
    for kind, relative in files.items():
        (version / relative).parent.mkdir(parents=True, exist_ok=True)
        if kind == "gx_results":
            (version / relative).write_text(json.dumps(result.gx_results, default=str))
        else:
            write_parquet(frames[kind], version / relative)
    return {
        "source": result.label,
        "checksum": result.checksum,
        "fingerprint": references.fingerprint,
        "rows_in": result.rows_in,
        "rows_clean": result.rows_clean,
        "rows_quarantined": result.rows_quarantined,
        "seconds": round(result.seconds, 3),
        "parts": result.parts,
        **files,
    }


def _link(store: Path | None, version: Path, entries: Iterable[dict[str, Any]]) -> None:
    """Hard-link a reused file's outputs from the published version into the new one (a symlink
    where the new version is on another file system: a scratch warehouse, `tasks.warehouse.scratch`)."""
    for entry in entries:
        assert store is not None
        outputs = [entry["aggregates"], entry["validation"], entry["quarantine"], entry["gx_results"]]
        for relative in [*entry["parts"], *outputs]:
            target = version / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(store / relative, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                os.symlink(store / relative, target)


def _finish(version: Path, entries: dict[str, dict], references: References) -> dict[str, Any]:
    """The store-wide tables and the manifest, written last."""
    read = lambda kind: [pd.read_parquet(version / e[kind]) for e in entries.values()]  # noqa: E731
    aggregates = combine(read("aggregates"))
    write_parquet(aggregates, version / "city_partner_month.parquet")
    write_parquet(city_year(aggregates), version / "city_year.parquet")
    validation = (
        pd.concat(read("validation"), ignore_index=True) if entries else results_table([]).assign(file="")
    )
    write_parquet(validation, version / "validation.parquet")
    write_parquet(stack_quarantined(read("quarantine")), version / "quarantine.parquet")
    manifest = {
        "store": "trade",
        "version": version.name,
        "ingest_version": INGEST_VERSION,
        "fingerprint": references.fingerprint,
        "references_checked": references.checked,
        "files": entries,
    }
    (version / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
