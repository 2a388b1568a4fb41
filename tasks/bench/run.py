"""One run of the trade-ingest benchmark: the data, the three sides in order, the ratios, the checks.

Generates N rows in the raw contract's format (`tasks.bench.synthetic_trade`, reused when a
folder already holds the same data), then measures each side in a fresh process
(`tasks.bench.sides`):

- DuckDB: read the CSVs, convert to CNY, write the yearly city aggregates, no validation; run
  before and after ours and the best run reported, to be fair to it;
- the pyarrow floor: our data path with no validation, run once between the first DuckDB run
  and ours. ours / DuckDB = (floor / DuckDB) x (ours / floor): the first factor is what our
  tools cost against DuckDB's engine, the second what validating costs on top of them;
- ours: the validated ingest (GX suite, quarantine, clean facts in CNY, the yearly city aggregates).

The wall time of a bare `import great_expectations` in a fresh process is measured once too, as
context for the second factor. Then, untimed, the aggregates are checked (`tasks.bench.checks`).
Speed goals are targets (bench/README.md), never asserted.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from tasks.bench.sides import GX_IMPORT_CODE, Measurement, Status, best_of, measure, run_side

DEFAULT_INGEST = "tasks.trade.ingest:update_store"
# Measured with the default generator: 10 M rows -> 389 MB of CSV, about a third of that gzipped.
CSV_BYTES_PER_ROW = 40
GZIP_SHARE = 0.35
FACTS_BYTES_PER_ROW = 25  # clean facts as Parquet, a generous guess
TARGETS = {
    "time_ratio_max_at_10m": 2.0,
    "peak_rss_max_mb_at_10m": 2048,
    "peak_rss_at_50m": "no higher than at 10 M",
}


def run_bench(
    work: Path,
    rows: int,
    year: int = 2018,
    seed: int = 0,
    bad_share: float = 0.0002,
    gzip: bool = False,
    workers: int = 2,
    threads: int | None = None,
    baseline_runs: int = 2,
    ingest: str = DEFAULT_INGEST,
    status: Status = contextlib.nullcontext,
) -> dict[str, Any]:
    """Generate (or reuse) the data in work/raw, measure the three sides, check the aggregates.

    Returns everything as JSON-ready data (`tasks.bench.report.show` prints it); `status` shows
    what runs meanwhile. Raises `SideFailed` when a side's process fails, `OSError` when the
    data would not fit on the disk.
    """
    from tasks.bench.checks import check_aggregates
    from tasks.bench.synthetic_trade import generate, read_manifest

    work.mkdir(parents=True, exist_ok=True)
    raw = work / "raw"
    generated = read_manifest(raw)
    reuse = generated is not None and (
        (generated.rows, generated.year, generated.seed, generated.bad_share) == (rows, year, seed, bad_share)
        and all(f.is_file() and f.name.endswith(".gz") == gzip for f in generated.files)
    )
    generate_s = None
    if not reuse:
        check_disk(work, rows, gzip)
        with status(f"generating {rows:,} rows in {raw}"):
            started = time.perf_counter()
            generated = generate(raw, rows, year=year, bad_share=bad_share, seed=seed, gzip=gzip)
            generate_s = time.perf_counter() - started
    assert generated is not None

    common = {"raw": str(raw), "years": [year]}
    baseline_args = common | {"out": str(work / "duckdb"), "threads": threads}
    floor_args = common | {"out": str(work / "floor"), "workers": workers}
    ours_args = common | {"out": str(work / "warehouse"), "workers": workers, "ingest": ingest}
    duckdb_runs = [run_side("duckdb", baseline_args, work, status)]
    floor = run_side("floor", floor_args, work, status)
    ours = run_side("ours", ours_args, work, status)
    duckdb_runs += [run_side("duckdb", baseline_args, work, status) for _ in range(baseline_runs - 1)]
    with status("timing a bare import of great_expectations"):
        gx_wall, gx_peak, gx_code = measure([sys.executable, "-c", GX_IMPORT_CODE], work / "gx_import.log")
    best = best_of(duckdb_runs)
    with status("checking the aggregates"):
        checks = check_aggregates(work, generated, threads)
    return {
        "rows": rows,
        "year": year,
        "seed": seed,
        "workers": workers,
        "duckdb_threads": threads,
        "ingest": ingest,
        "generated": {
            "files": len(generated.files),
            "csv_bytes": generated.bytes,
            "gzip": gzip,
            "reporters": generated.reporters,
            "bad_rows": generated.bad_rows,
            "bad_by_kind": generated.bad_by_kind,
            "generate_s": generate_s,
            "reused": reuse,
        },
        "duckdb": best.to_json()
        | {"runs": [m.to_json() for m in duckdb_runs], "reported": "best of the runs"},
        "floor": floor.to_json(),
        "ours": ours.to_json(),
        "ratio": ratios(best, floor, ours),
        "gx_import": {
            "wall_s": gx_wall if gx_code == 0 else None,
            "peak_rss_mb": gx_peak,
            "exit_code": gx_code,
            "python": sys.executable,
        },
        "checks": checks,
        "disk_bytes": {name: disk_usage(work / name) for name in ("raw", "warehouse", "floor", "duckdb")},
        "targets": TARGETS,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def ratios(duckdb: Measurement, floor: Measurement, ours: Measurement) -> dict[str, float | None]:
    """Ours against DuckDB, and the same wall-time ratio split at the floor:
    time = floor_vs_duckdb x ours_vs_floor. None where DuckDB reported a zero."""
    return {
        "time": ours.wall_s / duckdb.wall_s,
        "work_time": ours.work_s / duckdb.work_s if duckdb.work_s else None,
        "peak_rss": ours.peak_rss_mb / duckdb.peak_rss_mb if duckdb.peak_rss_mb else None,
        "floor_vs_duckdb": floor.wall_s / duckdb.wall_s,
        "ours_vs_floor": ours.wall_s / floor.wall_s,
    }


def check_disk(work: Path, rows: int, gzip: bool) -> None:
    """Refuse to start when the data and the outputs would not fit on the work folder's disk."""
    need = rows * (CSV_BYTES_PER_ROW * (GZIP_SHARE if gzip else 1.0) + FACTS_BYTES_PER_ROW)
    free = shutil.disk_usage(work).free
    if free < 1.2 * need:
        raise OSError(
            f"{work}: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed for {rows:,} rows "
            "and the outputs; use --dir on a larger disk or fewer --rows"
        )


def disk_usage(path: Path) -> int:
    """Bytes of the files under `path`, symbolic links not followed (0 when it does not exist)."""
    return sum(
        os.lstat(os.path.join(folder, name)).st_size for folder, _, names in os.walk(path) for name in names
    )
