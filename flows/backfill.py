"""`coopindex backfill` and `coopindex runs`: score a range of editions, list what ran.

Editions that are current (same input checksums and method version as published, see
`tasks.edition.inputs.is_current`) are skipped unless forced; the plan and the records are
`tasks.edition.backfill`'s, the flow runs `flows.backfill_runner`'s. Each run is recorded in
`warehouse/runs/<run_id>/run.json`, which `coopindex runs` reads with the manifests.
"""

from __future__ import annotations

import sys
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

import flows  # noqa: F401 - sets Prefect defaults before Prefect is imported
from flows.console import console, fail, quiet_data_errors
from flows.options import ConfigDir, RawDir, WarehouseDir, path_text
from tasks.warehouse.catalog import Catalog

__all__ = ["backfill_command", "runs_command"]


def backfill_command(
    start: Annotated[
        int | None,
        typer.Option("--from", help="First edition (data year); default: the first year in raw/trade/."),
    ] = None,
    end: Annotated[
        int | None,
        typer.Option("--to", help="Last edition, included; default: the last year in raw/trade/."),
    ] = None,
    parallel: Annotated[
        int,
        typer.Option(
            "--parallel",
            "-p",
            min=1,
            help="Editions run at once, each in a worker process (worth it with idle cores; ~5 s to start).",
        ),
    ] = 1,
    force: Annotated[
        bool, typer.Option("--force", help="Rerun editions whose inputs and method are unchanged too.")
    ] = False,
    raw: RawDir = None,
    warehouse: WarehouseDir = None,
    config: ConfigDir = None,
) -> None:
    """Score and publish a range of editions, one Prefect flow run each, then print a summary table.

    Skips an edition that is published from the same files (sha256) and the same method version.

    --force reruns every edition in the range: do that after changing the code.

    A failed edition does not stop the others; the exit code is 1 if any edition failed.
    """
    from flows.backfill_runner import backfill
    from tasks.edition.backfill import clip, edition_range, failed_run_logs, text

    catalog = Catalog.at(path_text(raw), path_text(warehouse), path_text(config))
    try:
        start, end = edition_range(catalog, start, end)
    except ValueError as exc:
        fail(str(exc))
    quiet_data_errors()
    table = backfill(
        start, end, parallel, force, path_text(raw), path_text(warehouse), path_text(config), progress=True
    )
    view = Table(title=f"Backfill of editions {start}-{end}")
    for column, justify in (("edition", "right"), ("status", "left"), ("duration", "right"),
                            ("trade rows", "right"), ("top city", "left"), ("reason", "left")):  # fmt: skip
        view.add_column(column, justify=justify)
    colours = {"published": "green", "skipped": "dim", "failed": "red"}
    for row in table.itertuples(index=False):
        view.add_row(
            str(row.edition),
            f"[{colours[row.status]}]{row.status}[/]",
            f"{row.duration_s:.1f} s",
            "-" if pd.isna(row.rows) else f"{row.rows:,}",
            text(row.top_city),
            escape(clip(text(row.reason, ""))),
        )
    console.print(view)
    counts = table["status"].value_counts()
    console.print(", ".join(f"{counts.get(s, 0)} {s}" for s in ("published", "skipped", "failed")))
    if counts.get("failed", 0):
        logs = ", ".join(map(str, failed_run_logs(catalog, table)))
        console.print(f"run logs: {logs}", highlight=False, soft_wrap=True)
        sys.exit(1)


def runs_command(
    warehouse: WarehouseDir = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to show.")] = 20,
) -> None:
    """List recent edition runs, newest first, from the warehouse's manifests and backfill run logs.

    Status: published (what the edition shows), superseded (kept before it), replaced (deleted), failed.

    The errors of failed runs follow the table.
    """
    from tasks.edition.backfill import clip, short_commit, text
    from tasks.warehouse.runs import list_runs

    catalog = Catalog.at(None, path_text(warehouse), None)
    runs = list_runs(catalog).head(limit)
    if runs.empty:
        console.print(f"no runs in {catalog.warehouse}", highlight=False)
        return
    view = Table(title=f"Recent runs in {catalog.warehouse}")
    for column in ("started (UTC)", "edition", "status", "duration", "top city", "run id", "flow run id",
                   "git commit"):  # fmt: skip
        view.add_column(column, justify="right" if column in ("edition", "duration") else "left")
    colours = {"published": "green", "superseded": "default", "replaced": "dim", "failed": "red"}
    for row in runs.itertuples(index=False):
        view.add_row(
            "-" if pd.isna(row.started_at) else row.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            "-" if pd.isna(row.edition) else str(row.edition),
            f"[{colours.get(row.status, 'default')}]{row.status}[/]",
            "-" if pd.isna(row.duration_s) else f"{row.duration_s:.1f} s",
            text(row.top_city),
            text(row.run_id),
            text(row.flow_run_id),
            short_commit(row.git_commit),
        )
    console.print(view)
    for row in runs[runs["status"] == "failed"].itertuples(index=False):
        message = escape(clip(text(row.error, "failed").strip()))
        console.print(f"[red]{row.run_id}[/] (edition {row.edition}): {message}", highlight=False)
