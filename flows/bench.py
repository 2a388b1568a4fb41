"""`coopindex bench`: the command of the trade-ingest benchmark (`tasks.bench.run`).

Only the command line lives here: options, the work folder, the output. What is generated,
measured and checked is described in `tasks.bench.run` and bench/README.md.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


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
    ingest: Annotated[
        str | None, typer.Option(hidden=True, help="module:function of our ingest (default: ours).")
    ] = None,
) -> None:
    """Benchmark the validated trade ingest against DuckDB on N synthetic customs rows.

    Prints rows/s, wall time and peak RSS of each side, the ratio ours / DuckDB split at the
    unvalidated pyarrow floor; checks that our yearly city aggregates agree with DuckDB's over
    the same clean rows, and the floor's with DuckDB's over all rows.
    """
    from tasks.bench.report import show  # the benchmark's modules (psutil ...) when it runs
    from tasks.bench.run import DEFAULT_INGEST, run_bench
    from tasks.bench.sides import SideFailed

    temporary = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="coopindex-bench-")) if temporary else Path(work_dir)
    try:
        results = run_bench(
            work, rows=rows, year=year, seed=seed, bad_share=bad_share, gzip=gzip, workers=workers,
            threads=threads, baseline_runs=max(1, baseline_runs), ingest=ingest or DEFAULT_INGEST,
            status=console.status,
        )  # fmt: skip
    except (SideFailed, OSError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from exc
    finally:
        if temporary and not keep:
            shutil.rmtree(work, ignore_errors=True)
        elif temporary:
            console.print(f"kept: {work}", highlight=False)
    show(results, console)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"results: {json_path}", highlight=False)
