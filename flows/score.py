"""`coopindex score` and `coopindex compare`: the engine on any index, no Prefect, no warehouse.

The engine is imported when a command runs, so that `coopindex --help` stays quick.
"""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from flows.console import console, fail


def score_command(
    framework: Annotated[Path, typer.Option(help="Framework table: COINr's iMeta format or ours.")],
    data: Annotated[
        Path,
        typer.Option(help="Wide unit table: uCode (or unit), Time (panel), groups, denominators, indicators"),
    ],
    method: Annotated[Path, typer.Option(help="Method YAML (see config/method.yaml).")],
    out: Annotated[Path, typer.Option(help="Folder for every stage as Parquet and results.csv.")],
    top: Annotated[int, typer.Option(help="How many units to print.")] = 10,
    report: Annotated[bool, typer.Option(help="Also write the report (OUT/report/index.html).")] = False,
    audit: Annotated[
        bool,
        typer.Option(help="Also write COINr's checks: correlations, Cronbach's alpha, PCA, leave-one-out."),
    ] = False,
) -> None:
    """Score any index with the engine and write every stage — no Prefect, no warehouse."""
    from tasks.engine.analysis import analyse
    from tasks.engine.analysis import audit as audit_checks
    from tasks.engine.export import (
        staged_folder,
        write_analysis,
        write_results,
        write_scores,
        write_stage_tables,
        write_stages,
        write_table,
    )
    from tasks.engine.index import PREPARED, Prepared, compute_index
    from tasks.engine.method import read_method
    from tasks.engine.panel import compute_panel
    from tasks.engine.units import read_framework, read_units

    gc.freeze()  # the modules' objects, scanned by no collection again: ~0.2 s less, most at exit
    try:
        tree, settings = read_framework(framework)
        units = read_units(data, tree, settings)
        chosen = read_method(method)
        inputs = {"denominators": units.denominators, "groups": units.groups, "settings": settings}
        if units.time and report:
            fail("--report shows one period: give it a table without Time", None)
        # Files are written on two more threads (Parquet's encoding releases the GIL), the first
        # stages while the engine runs, into a scratch folder that becomes --out's files only
        # once all are written.
        with staged_folder(out) as scratch, ThreadPoolExecutor(max_workers=2) as pool:
            early = pool.submit(write_table, units.indicators, scratch / "raw.parquet")

            def prepared(part: Prepared) -> None:
                """The stages up to the treatment, written after the raw table while the engine
                normalises and aggregates."""
                nonlocal early
                before = early
                early = pool.submit(lambda: write_stage_tables(part, PREPARED, scratch, before.result()))

            if units.time:
                stages = compute_panel(units.indicators, tree, chosen, time=units.time, **inputs)
            else:
                stages = compute_index(units.indicators, tree, chosen, **inputs, on_prepared=prepared)
            last = early.result()
            writes = [pool.submit(write_results, stages, tree, scratch, units.names),
                      pool.submit(write_scores, stages, scratch),
                      pool.submit(write_stages, stages, scratch, last)]  # fmt: skip
            written: set[str] = set()

            def write(tables: dict[str, pd.DataFrame]) -> None:
                writes.append(pool.submit(write_analysis, tables, scratch))
                written.update(tables)

            analysis = analyse(stages, tree, chosen, **inputs)
            write(analysis)
            checks = audit_checks(stages, tree, chosen, publish=write) if audit else {}
            if checks:
                write({name: table for name, table in checks.items() if name not in written})
            for done in writes:
                done.result()
        results, analysis = out / writes[0].result().name, analysis | checks
    except (ValueError, FileNotFoundError) as exc:
        fail("the index could not be scored", exc)
    # results.csv is ranked best first: the top rows are the first, except in a panel (the last period)
    table = pd.read_csv(results, nrows=None if units.time else max(top, 0))
    title = f"{tree.root}: top {top} of {len(stages.aggregated)} units"
    if units.time:
        latest = table[units.time].max()
        table = table[table[units.time] == latest]
        title = f"{tree.root}, {units.time} {latest}: top {top} of {len(table)} units"
    _print_top(table.head(top), [tree.root, *tree.children(tree.root)["code"]], title)
    dropped = stages.reports["screening"].query("not kept")
    if len(dropped):
        console.print(f"screened out: {', '.join(dropped['unit'].drop_duplicates())}")
    removed = stages.diagnostics["aggregation"]
    if len(removed):
        why = ", ".join(f"{n} {reason}" for reason, n in removed["reason"].value_counts().items())
        console.print(f"aggregate scores removed: {len(removed)} ({why}); aggregation.parquet says why")
    treated = stages.reports["treatment"].query("treated")
    console.print(f"outliers treated in {len(treated)} indicators; stages and results.csv in {out}")
    if report:
        from tasks.report.pages import build_report
        from tasks.report.scored import scored_data

        page = build_report(scored_data(stages, tree, chosen, analysis, units.names, data), out / "report")
        console.print(f"report: {page}", highlight=False)


def compare_command(
    first: Annotated[Path, typer.Argument(help="Output folder A of coopindex score.")],
    second: Annotated[Path, typer.Argument(help="Output folder B of coopindex score.")],
    out: Annotated[
        Path | None, typer.Option(help="Write every unit and node's differences here (.csv or .parquet).")
    ] = None,
    top: Annotated[int, typer.Option(help="How many units to print (largest index rank change first).")] = 10,
) -> None:
    """Rank and score differences per unit and node between two scored folders (COINr's
    compare_coins): A − B, printed for the index, all nodes with --out."""
    from tasks.engine.compare import compare_scores

    if out is not None and out.suffix not in (".csv", ".parquet"):
        fail(f"--out {out}: give a .csv or .parquet file", None)
    try:
        scores = [pd.read_parquet(folder / "scores.parquet") for folder in (first, second)]
        table = compare_scores(*scores)
    except (OSError, ValueError) as exc:
        fail("the scored folders could not be compared", exc)
    root = str(scores[0].loc[scores[0]["level"].idxmax(), "node"])
    index = table[table["node"] == root]
    keys = list(index.columns[: list(index.columns).index("node")])
    shown = ["rank_a", "rank_b", "rank_diff", "score_a", "score_b", "score_diff"]
    view = _table(f"{root}: {first} (A) against {second} (B), largest rank change first", [*keys, *shown])
    for row in index.head(top).to_dict("records"):
        view.add_row(*[str(row[k]) for k in keys], *[_cell(row[c]) for c in shown])
    console.print(view)
    both = index.dropna(subset=["rank_a", "rank_b"])
    moved = int((both["rank_diff"] != 0).sum())
    console.print(
        f"{len(both)} {'units' if len(keys) == 1 else 'unit-periods'} in both, {moved} with another "
        f"{root} rank, mean |rank change| "
        f"{both['abs_rank_diff'].astype('float64').mean():.3f}; {len(index) - len(both)} in one only"
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":
            table.to_csv(out, index=False, float_format="%.6f")
        else:
            table.to_parquet(out, index=False)
        console.print(f"every node: {out}", highlight=False)


def _print_top(table: pd.DataFrame, nodes: list[str], title: str) -> None:
    shown = [c for c in nodes if c in table.columns]
    view = _table(title, ["rank", "unit", "name", *shown])
    for row in table.to_dict("records"):
        view.add_row(str(row["rank"]), str(row["unit"]), str(row["name"]), *[_cell(row[c]) for c in shown])
    console.print(view)


def _table(title: str, columns: list[str]) -> Table:
    view = Table(title=title)
    for column in columns:
        view.add_column(column, justify="left" if column in ("unit", "name") else "right")
    return view


def _cell(value: object) -> str:
    """Four decimals for a score, an integer as it is, `-` when missing."""
    if pd.isna(value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
