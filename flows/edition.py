"""The edition flow: raw inputs of one data year -> validated -> scored -> published.

Reads top to bottom like the method's table of contents; every step is a pure function in
`tasks/`, wrapped here as a Prefect task so runs, retries and timings show in Prefect.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock, Timeout
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context

from tasks.edition import steps
from tasks.edition.steps import EditionBusyError, MissingInputError
from tasks.engine.compare import changes
from tasks.engine.framework import Framework, FrameworkError
from tasks.engine.method import MethodError
from tasks.engine.results import top_mean, top_table
from tasks.quality.load import LoadError
from tasks.quality.results import results_table
from tasks.quality.validation import DataValidationError, raise_for_failures
from tasks.trade.ingest import BlockedFilesError
from tasks.trade.store import write_facts
from tasks.warehouse import manifest as manifest_facts
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tasks.warehouse.publish import stage, switch

DATA_ERRORS = (LoadError, FrameworkError, MethodError, DataValidationError)


def _transient(task, task_run, state) -> bool:
    """Retry reads that failed for I/O reasons (a busy network share), not for bad data."""
    try:
        state.result()
    except (MissingInputError, *DATA_ERRORS):
        return False
    except OSError:
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth retrying
        return False
    return False


def _step(fn, name: str, timeout_s: float, **options: Any):
    """A pipeline step as a Prefect task. DataFrames are arguments: hashing them for a cache
    key costs time and buys nothing (NO_CACHE). Every step has a timeout in minutes (steps
    take seconds on the sample), so a hung read or a runaway step fails the run."""
    return task(fn, name=name, cache_policy=NO_CACHE, timeout_seconds=timeout_s, **options)


ingest_trade = _step(
    steps.ingest_trade, "ingest-trade", 3600, retries=2, retry_delay_seconds=1, retry_condition_fn=_transient
)
load_inputs = _step(
    steps.load_inputs, "load-inputs", 300, retries=2, retry_delay_seconds=1, retry_condition_fn=_transient
)
validate_inputs = _step(steps.validate_inputs, "validate-inputs", 600)
record_validation = _step(steps.record_validation, "record-validation", 300)
record_blocked_trade = _step(steps.record_blocked_trade, "record-validation", 300)
derive_trade = _step(steps.derive_trade, "derive-trade-facts", 300)
indicator_table = _step(steps.indicator_table, "assemble-indicator-values", 120)
check_derived = _step(steps.check_derived, "check-derived", 300)
compute_scores = _step(steps.score, "compute-index", 300)
analyse_scores = _step(steps.analyse_scores, "analyse-scores", 600)
stage_edition = _step(stage, "stage-edition", 300, retries=2, retry_delay_seconds=1)
publish_edition = _step(switch, "publish-edition", 120)


@flow(name="score-edition", log_prints=True)
def score_edition(
    edition: int = 2018,
    raw_dir: str | None = None,
    warehouse_dir: str | None = None,
    config_dir: str | None = None,
    lock_timeout_s: float = 600,
) -> dict[str, Any]:
    """Score data year `edition` from `raw/` and publish it to `warehouse/edition=<edition>`.

    Two runs of one edition never interleave: the second waits for the first (up to
    `lock_timeout_s`) on a file lock in the warehouse, which the OS releases if a run dies.
    """
    catalog = make_catalog(raw_dir, warehouse_dir, config_dir)
    lock_file = catalog.warehouse / ".locks" / f"edition={edition}.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(lock_file, timeout=lock_timeout_s):
            return _score_edition(catalog, edition)
    except Timeout:
        raise EditionBusyError(
            f"edition {edition} is being scored by another run "
            f"(waited {lock_timeout_s:.0f} s for its lock {lock_file})"
        ) from None


def _score_edition(catalog: Catalog, edition: int) -> dict[str, Any]:
    run_id, flow_run_id = _run_ids()
    started = datetime.now(UTC)
    timings: dict[str, float] = {}

    with _timed(timings, "ingest_trade"):
        try:
            ingested = ingest_trade(catalog, edition)
        except BlockedFilesError as exc:  # the run's report shows the refused files' checks
            reports = record_blocked_trade(catalog, run_id, edition, exc)
            exc.reports = {name: str(catalog.warehouse / path) for name, path in reports.items()}
            raise
    if ingested is not None:
        get_run_logger().info(
            "trade store: %d file(s) ingested, %d unchanged", len(ingested.ingested), len(ingested.reused)
        )
    with _timed(timings, "load"):
        inputs = load_inputs(catalog, edition, ingest=False)
    with _timed(timings, "validate"):
        checked = validate_inputs(inputs)
    with _timed(timings, "record_validation"):
        reports = record_validation(catalog, run_id, checked)
    get_run_logger().info("validation report (GX Data Docs): %s", catalog.warehouse / reports["data_docs"])
    try:
        checked.raise_if_blocked()
    except DataValidationError as exc:
        exc.reports = {name: str(catalog.warehouse / path) for name, path in reports.items()}
        raise
    inputs, outcomes = checked.inputs, checked.outcomes
    with _timed(timings, "derive_trade"):
        city_trade = derive_trade(inputs)
    with _timed(timings, "indicator_values"):
        values = indicator_table(inputs, city_trade)
    with _timed(timings, "check_derived"):
        derived = check_derived(inputs, values)
        raise_for_failures(derived)  # their rules are warnings; a critical one is a broken table
        outcomes = outcomes + derived
    with _timed(timings, "score"):
        stages = compute_scores(inputs, values)
    with _timed(timings, "analyse"):
        analysis = analyse_scores(inputs, stages)

    names = inputs.cities.set_index("city_code")["name_en"]
    datasets = {
        "trade_facts": partial(write_facts, inputs.trade, edition),  # streamed from the trade store
        "city_trade": city_trade.assign(city_name=lambda d: d["city_code"].map(names)),
        "indicator_values": values.assign(edition=edition),
        "scores": stages.scores.assign(edition=edition, city_name=lambda d: d["city_code"].map(names)),
        "validation": results_table(outcomes).assign(edition=edition),
        "quarantine": checked.quarantine.assign(edition=edition),
    } | {name: table.assign(edition=edition) for name, table in (analysis | stages.reports).items()}
    index = stages.aggregated[inputs.framework.root]
    summary = {
        "edition": edition,
        "run_id": run_id,
        "cities": int(index.notna().sum()),
        "top": str(index.idxmax()),
        "top_n_mean": top_mean(index, inputs.method.results.top_n),
        "quarantined_rows": int(sum(t.removed for t in checked.triages)),
    }
    with _timed(timings, "stage"):
        version = stage_edition(catalog, edition, run_id, datasets)
    manifest = {
        "run_id": run_id,
        "flow_run_id": flow_run_id,
        "edition": edition,
        "parameters": {
            "edition": edition,
            "raw_dir": str(catalog.raw),
            "warehouse_dir": str(catalog.warehouse),
            "config_dir": str(catalog.config),
        },  # fmt: skip
        "method": {"name": inputs.method.name, "version": inputs.method.version},
        "inputs": manifest_facts.checksums(inputs.files, catalog.raw.parent),
        "expectations": manifest_facts.checksums(
            catalog.expectations.glob("*.json"), catalog.expectations.parent
        ),
        "row_counts": {"inputs": inputs.row_counts(), "outputs": _row_counts(version, datasets)},
        "validation": {
            "success": all(o.success for o in outcomes),
            "expectations": sum(len(o.results) for o in outcomes),
            "failed": sum(len(o.failures) for o in outcomes),
            "warnings": sum(f.severity == "warning" for o in outcomes for f in o.failures),
            "quarantined_rows": int(sum(t.removed for t in checked.triages)),
            "reports": reports,
        },
        "summary": summary,
        "git_commit": manifest_facts.git_commit(),
        "packages": manifest_facts.package_versions(),
        "started_at": started.isoformat(),
        "timings_s": timings,
    }
    previous = catalog.dataset(edition, "scores")
    previous_scores = pd.read_parquet(previous) if previous.exists() else None
    manifest["finished_at"] = datetime.now(UTC).isoformat()
    link = publish_edition(catalog, edition, version, manifest)
    get_run_logger().info("published edition %s to %s (%s cities)", edition, link, summary["cities"])
    framework = inputs.framework
    _artifacts(edition, datasets["scores"], previous_scores, framework, manifest, inputs.method.results.top_n)
    return summary | {"path": str(link), "timings_s": timings}


def _artifacts(
    edition: int,
    scores: pd.DataFrame,
    previous: pd.DataFrame | None,
    framework: Framework,
    manifest: dict[str, Any],
    top_n: int,
) -> None:
    """The ranking table and a markdown summary on the flow run, for whoever looks at the UI."""
    ranking = top_table(scores, framework, top_n).round(4)
    create_table_artifact(
        key=f"edition-{edition}-ranking",
        table=ranking.astype(object).where(ranking.notna(), None).to_dict("records"),
        description=f"China-CEEC cooperation index, edition {edition}: top {top_n}",
    )
    validation = manifest["validation"]
    lines = [
        f"# Edition {edition} published",
        f"- run `{manifest['run_id']}`, method {manifest['method']['name']} {manifest['method']['version']}",
        f"- validation: {validation['expectations']} checks, {validation['failed']} failed "
        f"({validation['warnings']} warnings), {validation['quarantined_rows']} rows quarantined",
        f"- rows in: {manifest['row_counts']['inputs']}",
        f"- rows out: {manifest['row_counts']['outputs']}",
        f"- reports (in the warehouse): {validation['reports']}",
        f"- outputs: edition={edition}/{{{','.join(sorted(manifest['row_counts']['outputs']))}}}.parquet",
    ]
    if previous is None:
        lines.append("\nFirst publication of this edition.")
    else:
        moved = changes(previous, scores, framework)
        lines.append(f"\n## Against the previous publication: {len(moved)} cities moved")
        lines += [
            f"- {r.city_code}: rank {r.rank_before} -> {r.rank_after}, index {r.index_before:.4f} -> "
            f"{r.index_after:.4f}, mostly {r.driver} ({r.driver_effect:+.4f})"
            for r in moved.head(20).itertuples()
        ]
    create_markdown_artifact(key=f"edition-{edition}-summary", markdown="\n".join(lines))


def _row_counts(version: Path, datasets: dict[str, Any]) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {
        name: len(data)
        if isinstance(data, pd.DataFrame)
        else pq.ParquetFile(version / f"{name}.parquet").metadata.num_rows
        for name, data in datasets.items()
    }


def make_catalog(raw_dir: str | None, warehouse_dir: str | None, config_dir: str | None) -> Catalog:
    default = Catalog()
    return Catalog(
        raw=Path(raw_dir).resolve() if raw_dir else default.raw,
        warehouse=Path(warehouse_dir).resolve() if warehouse_dir else default.warehouse,
        config=Path(config_dir).resolve() if config_dir else default.config,
        expectations=PROJECT_ROOT / "expectations",
    )


def _run_ids() -> tuple[str, str | None]:
    """A sortable run id (UTC time + random) and Prefect's flow-run id."""
    try:
        flow_run_id = str(get_run_context().flow_run.id)
    except Exception:  # noqa: BLE001 - called outside a flow run (flow.fn)
        flow_run_id = None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}", flow_run_id


@contextmanager
def _timed(timings: dict[str, float], step: str):
    start = time.perf_counter()
    yield
    timings[step] = round(time.perf_counter() - start, 3)
