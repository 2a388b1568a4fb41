"""Great Expectations Data Docs for one run's validations, written into the warehouse.

Data stewards browse what was checked and what failed, suite by suite, in GX's own HTML
site. Every run gets its own (`warehouse/runs/<run_id>/data_docs/index.html`), failed runs
included — those are the ones worth reading; the sites of the newest few runs are kept.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KEEP_RUNS = 5


def build(results: Iterable[tuple[Any, ...]], folder: Path, run_id: str, batch: str) -> Path:
    """Render `(suite spec, ExpectationSuiteValidationResult[, batch name])` as a Data Docs site.

    `batch` names what was validated (e.g. "edition-2018") unless an item names its own (one
    page per trade file batch). A result may be GX's object or its JSON dict (as the trade
    store keeps them). Returns the site's index.html.
    """
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResultSchema,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = gx.get_context(mode="ephemeral")
    site = {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    context.add_data_docs_site(site_name="coopindex", site_config=site)
    run = RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))
    added = set()
    for spec, result, *name in results:
        if isinstance(result, dict):
            result = ExpectationSuiteValidationResultSchema().load(result)
        if spec["name"] not in added:
            context.suites.add(gx.ExpectationSuite(name=spec["name"], expectations=spec["expectations"]))
            added.add(spec["name"])
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=spec["name"]),
            run_id=run,
            batch_identifier=name[0] if name else batch,
        )
        context.validation_results_store.store_validation_results(result, key)
    context.build_data_docs(site_names=["coopindex"])
    prune(folder.parent.parent, keep=folder)
    return folder / "index.html"


def prune(runs: Path, keep: Path) -> None:
    """Keep the Data Docs of the newest `KEEP_RUNS` runs (and `keep`); other run files stay."""
    sites = sorted(runs.glob("*/data_docs"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in [s for s in sites if s != keep][KEEP_RUNS - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
