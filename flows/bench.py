"""`coopindex bench`: the validated trade ingest against a DuckDB baseline, on synthetic customs data.

Generates N rows in the raw contract's format (`tasks.bench.synthetic_trade`), then measures, each
in a fresh process so that none inherits another's imports, caches or memory:

- DuckDB: read the CSVs, convert to CNY, write the yearly city aggregates, no validation
  (`tasks.bench.baseline.duckdb_baseline`); run before and after ours and the better run
  reported, to be fair to it;
- the pyarrow floor: our data path with no validation (`tasks.baseline.pyarrow_floor`:
  pyarrow CSV reader, pandas, all rows written as Parquet facts by forked workers), run
  once between the first DuckDB run and ours. ours / DuckDB = (floor / DuckDB) x (ours /
  floor): the first factor is what our tools cost against DuckDB's engine, the second what
  validating costs on top of them;
- ours: the validated ingest (`tasks.trade.ingest.ingest_trade`: GX suite, quarantine, clean
  facts in CNY and the yearly city aggregates).

The wall time of a bare `import great_expectations` in a fresh process is measured once too,
as context for the second factor.

Wall time and peak RSS cover the whole process tree (interpreter start, imports, workers):
the RSS of the process and its descendants is summed every 20 ms and the maximum kept
(shared pages of forked workers count once per process, so a tree's figure is an upper
bound). Then, untimed, the aggregates are checked: ours against DuckDB over our clean facts,
and against DuckDB over the raw rows minus those breaking the suite's rules; the floor's
against DuckDB's (both unvalidated, the same rows). Speed goals are targets
(bench/README.md), never asserted: the command exits 0 whenever every side ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import psutil
import typer
from rich.console import Console
from rich.table import Table

from tasks.warehouse.catalog import PROJECT_ROOT

console = Console()

DEFAULT_INGEST = "tasks.trade.ingest:ingest_trade"
POLL_SECONDS = 0.02
# Measured with the default generator: 10 M rows -> 389 MB of CSV, about a third of that gzipped.
CSV_BYTES_PER_ROW = 40
GZIP_SHARE = 0.35
FACTS_BYTES_PER_ROW = 25  # clean facts as Parquet, a generous guess
TARGETS = {
    "time_ratio_max_at_10m": 2.0,
    "peak_rss_max_mb_at_10m": 2048,
    "peak_rss_at_50m": "no higher than at 10 M",
}

# Each side runs as `python -c <code> <json args>`; the code writes its result as JSON.
_BASELINE_CODE = """
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
_FLOOR_CODE = """
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
_GX_IMPORT_CODE = "import great_expectations"
_LABELS = {"duckdb": "DuckDB baseline", "floor": "pyarrow floor", "ours": "our ingest"}
_OURS_CODE = """
import importlib, json, sys, time
from pathlib import Path
a = json.loads(sys.argv[1])
module, name = a["ingest"].split(":")
ingest = getattr(importlib.import_module(module), name)
started = time.perf_counter()
report = ingest(Path(a["raw"]), Path(a["out"]), years=a["years"], workers=a["workers"])
result = {"rows": report.rows_in, "work_s": time.perf_counter() - started, "rows_clean": report.rows_clean,
          "rows_quarantined": report.rows_quarantined}
Path(a["result"]).write_text(json.dumps(result))
"""


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


def bench_command(
    rows: Annotated[int, typer.Option(help="Trade rows to generate (12 monthly files).")] = 1_000_000,
    workers: Annotated[int, typer.Option(help="Worker processes of our ingest.")] = 2,
    threads: Annotated[
        int | None, typer.Option(help="DuckDB threads of the baseline (default: DuckDB's, all cores).")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the temporary folder (data and outputs).")] = False,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Work in this folder instead of a temporary one, and keep it; "
            "its generated data is reused when rows, year, seed and format match.",
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the results here as JSON.")
    ] = None,
    year: Annotated[int, typer.Option(help="Data year of the generated records.")] = 2018,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 0,
    bad_share: Annotated[float, typer.Option(help="Share of rows that break a rule.")] = 0.0002,
    gzip: Annotated[bool, typer.Option(help="Generate .csv.gz files.")] = False,
    baseline_runs: Annotated[
        int, typer.Option(help="DuckDB runs (before ours, then after); the best is shown.")
    ] = 2,
    ingest: Annotated[str, typer.Option(hidden=True, help="module:function of our ingest.")] = DEFAULT_INGEST,
) -> None:
    """Benchmark the validated trade ingest against DuckDB on N synthetic customs rows.

    Prints rows/s, wall time and peak RSS of each side, the ratio ours / DuckDB split at the
    unvalidated pyarrow floor; checks that our yearly city aggregates agree with DuckDB's over
    the same clean rows, and the floor's with DuckDB's over all rows.
    """
    temporary = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="coopindex-bench-")) if temporary else Path(work_dir)
    try:
        results = run_bench(
            work, rows=rows, year=year, seed=seed, bad_share=bad_share, gzip=gzip, workers=workers,
            threads=threads, baseline_runs=max(1, baseline_runs), ingest=ingest,
        )  # fmt: skip
    except (SideFailed, OSError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from exc
    finally:
        if temporary and not keep:
            shutil.rmtree(work, ignore_errors=True)
        elif temporary:
            console.print(f"kept: {work}", highlight=False)
    show(results)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"results: {json_path}", highlight=False)


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
) -> dict[str, Any]:
    """Generate (or reuse) the data in work/raw, measure the three sides, check the aggregates."""
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
        _check_disk(work, rows, gzip)
        with console.status(f"generating {rows:,} rows in {raw}"):
            started = time.perf_counter()
            generated = generate(raw, rows, year=year, bad_share=bad_share, seed=seed, gzip=gzip)
            generate_s = time.perf_counter() - started
    assert generated is not None

    common = {"raw": str(raw), "years": [year]}
    baseline_args = common | {"out": str(work / "duckdb"), "threads": threads}
    floor_args = common | {"out": str(work / "floor"), "workers": workers}
    ours_args = common | {"out": str(work / "warehouse"), "workers": workers, "ingest": ingest}
    duckdb_runs = [_side("duckdb", _BASELINE_CODE, baseline_args, work)]
    floor = _side("floor", _FLOOR_CODE, floor_args, work)
    ours = _side("ours", _OURS_CODE, ours_args, work)
    duckdb_runs += [_side("duckdb", _BASELINE_CODE, baseline_args, work) for _ in range(baseline_runs - 1)]
    with console.status("timing a bare import of great_expectations"):
        gx_wall, gx_peak, gx_code = measure([sys.executable, "-c", _GX_IMPORT_CODE], work / "gx_import.log")
    best = Measurement(
        side="duckdb",
        rows=duckdb_runs[0].rows,
        wall_s=min(m.wall_s for m in duckdb_runs),
        work_s=min(m.work_s for m in duckdb_runs),
        peak_rss_mb=min(m.peak_rss_mb for m in duckdb_runs),
    )
    with console.status("checking the aggregates"):
        checks = _checks(work, generated, threads)
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
        "ratio": {
            "time": ours.wall_s / best.wall_s,
            "work_time": ours.work_s / best.work_s if best.work_s else None,
            "peak_rss": ours.peak_rss_mb / best.peak_rss_mb if best.peak_rss_mb else None,
            # time = floor_vs_duckdb x ours_vs_floor (wall times)
            "floor_vs_duckdb": floor.wall_s / best.wall_s,
            "ours_vs_floor": ours.wall_s / floor.wall_s,
        },
        "gx_import": {
            "wall_s": gx_wall if gx_code == 0 else None,
            "peak_rss_mb": gx_peak,
            "exit_code": gx_code,
            "python": sys.executable,
        },
        "checks": checks,
        "disk_bytes": {name: _du(work / name) for name in ("raw", "warehouse", "floor", "duckdb")},
        "targets": TARGETS,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


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
        peak = max(peak, _tree_rss(root))
        time.sleep(POLL_SECONDS)
    return time.perf_counter() - started, peak / 2**20, proc.returncode


def show(results: dict[str, Any]) -> None:
    """The results as a small table and a few lines, ratios against DuckDB and the floor."""
    gen = results["generated"]
    title = (
        f"trade ingest: {results['rows']:,} rows, {gen['files']} files, {gen['csv_bytes'] / 1e6:,.0f} MB "
        f"{'gzipped CSV' if gen['gzip'] else 'CSV'}, {gen['reporters']:,} reporters"
    )
    table = Table(title=title)
    for column in ("side", "rows", "wall s", "in-process s", "rows/s", "peak RSS MB"):
        table.add_column(column, justify="left" if column == "side" else "right")
    duck, floor, ours = results["duckdb"], results["floor"], results["ours"]
    labels = {
        "duckdb": f"DuckDB, no checks (best of {len(duck['runs'])})",
        "floor": f"pyarrow floor, no checks ({results['workers']} workers)",
        "ours": f"ours, validated ({results['workers']} workers)",
    }
    for key, m in (("duckdb", duck), ("floor", floor), ("ours", ours)):
        table.add_row(
            labels[key], f"{m['rows']:,}", f"{m['wall_s']:.2f}", f"{m['work_s']:.2f}",
            f"{m['rows_per_s']:,.0f}", f"{m['peak_rss_mb']:,.0f}",
        )  # fmt: skip
    console.print(table)
    ratio = results["ratio"]
    console.print(
        f"ours / DuckDB: time {ratio['time']:.2f}x (in-process {ratio['work_time']:.2f}x), "
        f"peak RSS {ratio['peak_rss']:.2f}x | targets at 10 M rows: time <= "
        f"{TARGETS['time_ratio_max_at_10m']}x, peak RSS <= {TARGETS['peak_rss_max_mb_at_10m']:,} MB, "
        "and no higher at 50 M",
        highlight=False,
    )
    gx = results["gx_import"]
    gx_text = f"{gx['wall_s']:.2f} s" if gx["wall_s"] is not None else f"failed (exit code {gx['exit_code']})"
    console.print(
        f"  = floor / DuckDB {ratio['floor_vs_duckdb']:.2f}x (our tools, no validation) "
        f"x ours / floor {ratio['ours_vs_floor']:.2f}x (validation and the rest) | "
        f"GX import alone: {gx_text} (a fresh process)",
        highlight=False,
    )
    checks = results["checks"]
    console.print(
        f"quarantined: {ours['extra'].get('rows_quarantined', 0):,} rows "
        f"(generated rule breakers: {gen['bad_rows']:,}); clean: {ours['extra'].get('rows_clean', 0):,}",
        highlight=False,
    )
    for name, label in (
        ("ours_vs_facts", "our city_year = DuckDB over our clean facts"),
        ("ours_vs_rules", "our city_year = DuckDB over the raw rows minus the rule breakers"),
        ("floor_vs_duckdb", "floor city_year = DuckDB's (both unvalidated, all rows)"),
    ):
        check = checks[name]
        verdict = "[green]yes[/]" if check["agree"] else "[bold red]NO[/]"
        console.print(
            f"{label}: {verdict} ({check['rows'][0]} rows, max relative difference "
            f"{check['max_relative_difference']:.1e}, {check['unmatched_rows']} unmatched, "
            f"{check['partner_count_mismatches']} partner counts differ)"
        )
    console.print(
        f"totals, bn CNY: ours {checks['totals_bn_cny']['ours']:,.3f}; DuckDB baseline "
        f"{checks['totals_bn_cny']['duckdb_all_rows']:,.3f} (all rows, the rule breakers included)",
        highlight=False,
    )


def _side(side: str, code: str, args: dict[str, Any], work: Path) -> Measurement:
    """One measured run of a side in a fresh process, its output folder emptied first."""
    out = Path(args["out"])
    shutil.rmtree(out, ignore_errors=True)
    result = work / f"{side}.result.json"
    result.unlink(missing_ok=True)
    log = work / f"{side}.log"
    label = _LABELS[side]
    with console.status(f"running the {label}"):
        wall, peak, code_ = measure(
            [sys.executable, "-c", code, json.dumps(args | {"result": str(result)})], log
        )
    if code_ != 0 or not result.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise SideFailed(f"the {label} failed (exit code {code_}):\n" + "\n".join(tail))
    data = json.loads(result.read_text())
    rows, work_s = data.pop("rows"), data.pop("work_s")
    return Measurement(side, int(rows), wall, float(work_s), peak, data)


def _checks(work: Path, generated: Any, threads: int | None) -> dict[str, Any]:
    """Our city_year against DuckDB over our clean facts and over the raw rows that pass the
    rules; the floor's against DuckDB's baseline (the same rows, neither validated)."""
    import pandas as pd

    from tasks.bench.baseline import compare_city_year, facts_city_year, rules_city_year
    from tasks.quality import load
    from tasks.trade.membership import member_keys
    from tasks.warehouse.catalog import Catalog

    catalog = Catalog(raw=work / "raw")
    store = (work / "warehouse" / "trade").resolve()  # a link to the published version
    ours = pd.read_parquet(store / "city_year.parquet")
    cities = load.read_csv(catalog.cities, load.CITIES)["city_code"]
    members = load.read_csv(catalog.ceec_members, load.CEEC_MEMBERS)
    by_rules = rules_city_year(
        catalog.raw, cities, member_keys(members, [generated.year]), [generated.year], threads
    )
    duckdb_all = pd.read_parquet(work / "duckdb" / "city_year.parquet")
    floor = pd.read_parquet(work / "floor" / "city_year.parquet")
    return {
        "ours_vs_facts": compare_city_year(ours, facts_city_year(store / "facts", threads)),
        "ours_vs_rules": compare_city_year(ours, by_rules)
        | {"rows_kept_by_rules": int(by_rules["records"].sum())},
        "floor_vs_duckdb": compare_city_year(floor, duckdb_all),
        "totals_bn_cny": {
            "ours": float(ours["exports_cny"].sum() + ours["imports_cny"].sum()) / 1e9,
            "duckdb_all_rows": float(duckdb_all["exports_cny"].sum() + duckdb_all["imports_cny"].sum()) / 1e9,
        },
    }


def _tree_rss(root: psutil.Process) -> int:
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


def _check_disk(work: Path, rows: int, gzip: bool) -> None:
    """Refuse to start when the data and the outputs would not fit on the work folder's disk."""
    need = rows * (CSV_BYTES_PER_ROW * (GZIP_SHARE if gzip else 1.0) + FACTS_BYTES_PER_ROW)
    free = shutil.disk_usage(work).free
    if free < 1.2 * need:
        raise OSError(
            f"{work}: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed for {rows:,} rows "
            "and the outputs; use --dir on a larger disk or fewer --rows"
        )


def _du(path: Path) -> int:
    """Bytes of the files under `path`, symbolic links not followed (0 when it does not exist)."""
    return sum(
        os.lstat(os.path.join(folder, name)).st_size for folder, _, names in os.walk(path) for name in names
    )
