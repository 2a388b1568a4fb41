"""The three sides of the trade-ingest benchmark, each run and measured in a fresh process.

A fresh process per side, so that none inherits another's imports, caches or memory: DuckDB
(`tasks.bench.baseline.duckdb_baseline`), the pyarrow floor (`tasks.bench.baseline.pyarrow_floor`)
and ours (`tasks.trade.ingest.update_store`, or another `module:function`). Each side imports its
heavy modules before its clock starts and writes what it did as JSON.

Wall time and peak RSS cover the whole process tree (interpreter start, imports, workers): the
RSS of the process and its descendants is summed every 20 ms and the maximum kept (shared pages
of forked workers count once per process, so a tree's figure is an upper bound).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tasks.warehouse.catalog import PROJECT_ROOT

POLL_SECONDS = 0.02
Status = Callable[[str], AbstractContextManager[Any]]  # shows what runs meanwhile (rich's `console.status`)

# Each side runs as `python -c <code> <json args>`; the code writes its result as JSON.
BASELINE_CODE = """
import json, sys, time
from pathlib import Path
a = json.loads(sys.argv[1])
import duckdb  # imported before the clock, as the other sides' modules are
from tasks.bench.baseline import duckdb_baseline
started = time.perf_counter()
rows = duckdb_baseline(Path(a["raw"]), Path(a["out"]), threads=a["threads"], years=a["years"])
result = {"rows": rows, "work_s": time.perf_counter() - started}
Path(a["result"]).write_text(json.dumps(result))
"""
FLOOR_CODE = """
import json, sys, time
from pathlib import Path
a = json.loads(sys.argv[1])
import numpy, pandas, pyarrow.csv, pyarrow.parquet  # before the clock, as the other sides' modules
from tasks.bench.baseline import pyarrow_floor
started = time.perf_counter()
rows = pyarrow_floor(Path(a["raw"]), Path(a["out"]), years=a["years"], workers=a["workers"])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"great_expectations", "prefect", "duckdb"})
result = {"rows": rows, "work_s": time.perf_counter() - started, "heavy_modules": heavy}
Path(a["result"]).write_text(json.dumps(result))
"""
OURS_CODE = """
import importlib, json, sys, time
from pathlib import Path
a = json.loads(sys.argv[1])
module, name = a["ingest"].split(":")
ingest = getattr(importlib.import_module(module), name)
started = time.perf_counter()
from tasks.warehouse.catalog import Catalog
catalog = Catalog(raw=Path(a["raw"]), warehouse=Path(a["out"]))
report = ingest(catalog, years=a["years"], workers=a["workers"])
result = {"rows": report.rows_in, "work_s": time.perf_counter() - started, "rows_clean": report.rows_clean,
          "rows_quarantined": report.rows_quarantined}
Path(a["result"]).write_text(json.dumps(result))
"""
GX_IMPORT_CODE = "import great_expectations"
CODES = {"duckdb": BASELINE_CODE, "floor": FLOOR_CODE, "ours": OURS_CODE}
LABELS = {"duckdb": "DuckDB baseline", "floor": "pyarrow floor", "ours": "our ingest"}


@dataclass
class Measurement:
    """One side's run: what the process reported and what the parent measured around it."""

    side: str
    rows: int
    wall_s: float  # the whole process: interpreter start, imports, work, exit
    work_s: float  # the call itself, as the process timed it
    peak_rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"rows_per_s": self.rows_per_s}


class SideFailed(RuntimeError):
    """A measured process exited with an error; the message holds the end of its output."""


def run_side(
    side: str, args: dict[str, Any], work: Path, status: Status = contextlib.nullcontext
) -> Measurement:
    """One measured run of `side` in a fresh process, its output folder (`args["out"]`) emptied first."""
    out = Path(args["out"])
    shutil.rmtree(out, ignore_errors=True)
    result = work / f"{side}.result.json"
    result.unlink(missing_ok=True)
    log = work / f"{side}.log"
    label = LABELS[side]
    with status(f"running the {label}"):
        wall, peak, code = measure(
            [sys.executable, "-c", CODES[side], json.dumps(args | {"result": str(result)})], log
        )
    if code != 0 or not result.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise SideFailed(f"the {label} failed (exit code {code}):\n" + "\n".join(tail))
    data = json.loads(result.read_text())
    rows, work_s = data.pop("rows"), data.pop("work_s")
    return Measurement(side, int(rows), wall, float(work_s), peak, data)


def best_of(runs: Sequence[Measurement]) -> Measurement:
    """The best of several runs of one side, figure by figure: fair to a baseline whose first run
    may find a cold page cache."""
    return Measurement(
        side=runs[0].side,
        rows=runs[0].rows,
        wall_s=min(m.wall_s for m in runs),
        work_s=min(m.work_s for m in runs),
        peak_rss_mb=min(m.peak_rss_mb for m in runs),
    )


def measure(argv: list[str], log: Path, cwd: Path = PROJECT_ROOT) -> tuple[float, float, int]:
    """Run `argv`; return its wall seconds, the peak RSS (MB) of its process tree and its exit code."""
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    root = psutil.Process(proc.pid)
    peak = 0
    # Polling only: the child's own ru_maxrss would not do, as Linux starts it at the parent's
    # RSS when forked (this process's pandas and all), whatever the child uses after exec.
    while proc.poll() is None:
        peak = max(peak, tree_rss(root))
        time.sleep(POLL_SECONDS)
    return time.perf_counter() - started, peak / 2**20, proc.returncode


def tree_rss(root: psutil.Process) -> int:
    """RSS of a process and all its descendants, in bytes (those gone meanwhile count 0)."""
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total
