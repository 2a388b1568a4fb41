"""What an edition publishes: its datasets, its manifest (what it read and how), its summary."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from tasks.edition.checks import Checked
from tasks.edition.read import Inputs
from tasks.engine.compare import changes
from tasks.engine.correlation import node_correlations
from tasks.engine.index import IndexStages
from tasks.engine.results import top_mean, top_table
from tasks.quality.results import results_table
from tasks.quality.validation import SuiteOutcome
from tasks.trade.store import write_facts
from tasks.warehouse import manifest as manifest_facts
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.publish import Dataset


def edition_datasets(
    edition: int,
    clean: Inputs,
    checked: Checked,
    city_trade: pd.DataFrame,
    indicator_values: pd.DataFrame,
    derived: list[SuiteOutcome],
    stages: IndexStages,
    analysis: dict[str, pd.DataFrame],
) -> dict[str, Dataset]:
    """Every table the edition publishes, each with its edition; the trade facts streamed."""
    names = clean.cities.set_index("city_code")["name_en"]
    return {
        "trade_facts": partial(write_facts, clean.trade, edition),  # streamed from the trade store
        "city_trade": city_trade.assign(city_name=lambda d: d["city_code"].map(names)),
        "indicator_values": indicator_values.assign(edition=edition),
        "scores": stages.scores.assign(edition=edition, city_name=lambda d: d["city_code"].map(names)),
        "validation": results_table(checked.outcomes + derived).assign(edition=edition),
        "quarantine": checked.quarantine.assign(edition=edition),
        "correlations": node_correlations(stages.scores).assign(edition=edition),
    } | {name: table.assign(edition=edition) for name, table in (analysis | stages.reports).items()}


def edition_manifest(
    catalog: Catalog,
    edition: int,
    run_id: str,
    flow_run_id: str | None,
    started: datetime,
    timings: dict[str, float],
    clean: Inputs,
    checked: Checked,
    derived: list[SuiteOutcome],
    reports: dict[str, str],
    stages: IndexStages,
    datasets: dict[str, Dataset],
    version: Path,
) -> dict[str, Any]:
    """What the edition read (checksums), how (method, code, packages) and what it wrote."""
    outcomes = checked.outcomes + derived
    index = stages.aggregated[clean.framework.root]
    summary = {
        "edition": edition,
        "run_id": run_id,
        "cities": int(index.notna().sum()),
        "top": str(index.idxmax()),
        "top_n_mean": top_mean(index, clean.method.results.top_n),
        "quarantined_rows": checked.quarantined_rows,
    }
    return {
        "run_id": run_id,
        "flow_run_id": flow_run_id,
        "edition": edition,
        "parameters": {
            "edition": edition,
            "raw_dir": str(catalog.raw),
            "warehouse_dir": str(catalog.warehouse),
            "config_dir": str(catalog.config),
        },  # fmt: skip
        "method": {"name": clean.method.name, "version": clean.method.version},
        "inputs": manifest_facts.checksums(clean.files, catalog.raw.parent),
        "expectations": manifest_facts.checksums(catalog.suite_files(), catalog.expectations.parent),
        "row_counts": {"inputs": clean.row_counts(), "outputs": _row_counts(version, datasets)},
        "validation": {
            "success": all(o.success for o in outcomes),
            "expectations": sum(len(o.results) for o in outcomes),
            "failed": sum(len(o.failures) for o in outcomes),
            "warnings": sum(f.severity == "warning" for o in outcomes for f in o.failures),
            "quarantined_rows": checked.quarantined_rows,
            "reports": reports,
        },
        "summary": summary,
        "git_commit": manifest_facts.git_commit(),
        "packages": manifest_facts.package_versions(),
        "started_at": started.isoformat(),
        "timings_s": dict(timings),
        "finished_at": datetime.now(UTC).isoformat(),
    }


def summary_markdown(
    manifest: dict[str, Any], scores: pd.DataFrame, previous: pd.DataFrame | None, clean: Inputs
) -> tuple[pd.DataFrame, str]:
    """The top-N ranking and a markdown summary of a published edition, for whoever looks at the UI."""
    edition, framework, top_n = manifest["edition"], clean.framework, clean.method.results.top_n
    ranking = top_table(scores, framework, top_n).round(4)
    validation, counts = manifest["validation"], manifest["row_counts"]
    method = manifest["method"]
    lines = [
        f"# Edition {edition} published",
        "",
        *_table(("", ""), [
            ("run", f"`{manifest['run_id']}`"),
            ("method", f"{method['name']} {method['version']}"),
            ("checks", f"{validation['expectations']} ({validation['failed']} failed, "
                       f"{validation['warnings']} warnings)"),
            ("rows quarantined", validation["quarantined_rows"]),
        ]),
        "",
        "## Rows",
        "",
        *_table(("dataset", "rows in"), [(f"`{name}`", f"{n:,}") for name, n in counts["inputs"].items()]),
        "",
        *_table(("dataset", "rows out"),
                [(f"`edition={edition}/{name}.parquet`", f"{n:,}") for name, n in counts["outputs"].items()]),
        "",
        "## Reports (in the warehouse)",
        "",
        *_table(("report", "path"), [(name, f"`{path}`") for name, path in validation["reports"].items()]),
    ]  # fmt: skip
    if previous is None:
        lines.append("\nFirst publication of this edition.")
    else:
        moved = changes(previous, scores, framework)
        lines += [f"\n## Against the previous publication: {len(moved)} cities moved", ""]
        lines += _table(
            ("city", "rank", "index", "mostly", "effect"),
            [
                (r.city_code, f"{r.rank_before} -> {r.rank_after}",
                 f"{r.index_before:.4f} -> {r.index_after:.4f}", r.driver, f"{r.driver_effect:+.4f}")
                for r in moved.head(20).itertuples()
            ],
        )  # fmt: skip
    return ranking, "\n".join(lines)


def _table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    """A markdown table: the UI renders it, where a dict's repr would be one long line."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]


def previous_scores(catalog: Catalog, edition: int) -> pd.DataFrame | None:
    """The published edition's scores before this run replaces them (what moved, and why)."""
    path = catalog.dataset(edition, "scores")
    return pd.read_parquet(path) if path.exists() else None


def _row_counts(version: Path, datasets: dict[str, Dataset]) -> dict[str, int]:
    return {
        name: len(data)
        if isinstance(data, pd.DataFrame)
        else pq.ParquetFile(version / f"{name}.parquet").metadata.num_rows
        for name, data in datasets.items()
    }
