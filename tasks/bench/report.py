"""The benchmark's results (`tasks.bench.run.run_bench`) as a table and a few lines of ratios and checks."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from tasks.bench.run import TARGETS

CHECK_LABELS = {
    "ours_vs_facts": "our city_year = DuckDB over our clean facts",
    "ours_vs_rules": "our city_year = DuckDB over the raw rows minus the rule breakers",
    "floor_vs_duckdb": "floor city_year = DuckDB's (both unvalidated, all rows)",
}


def show(results: dict[str, Any], console: Console) -> None:
    """The sides as a small table, then ours / DuckDB split at the floor, the quarantine and the checks."""
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
    for name, label in CHECK_LABELS.items():
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
