"""Writing reports: an edition's into its staged version, rebuilt ones, and the editions' index.

The pages (`pages`) are pure functions of edition folders; this module finds those folders,
the framework and city names through the catalog, and decides where the report goes.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.engine.method import read_method
from tasks.quality import load
from tasks.report.data import EditionData, ReportData, read_edition
from tasks.report.pages import build_index, build_report
from tasks.warehouse.catalog import Catalog


def published(catalog: Catalog, skip: int | None = None) -> tuple[EditionData, ...]:
    """Every published edition with a manifest, except `skip` (the one being written)."""
    return tuple(
        read_edition(catalog.edition_dir(e))
        for e in catalog.published_editions()
        if e != skip and catalog.manifest(e).exists()
    )


def data_docs_link(catalog: Catalog, manifest: dict[str, Any], at: Path) -> str | None:
    """The run's Data Docs as a link from a page in folder `at` (relative: the folder moves with
    the warehouse); `at` is where a reader opens the report, through the `edition=N` link."""
    path = manifest.get("validation", {}).get("reports", {}).get("data_docs")
    if not path:
        return None
    return Path(os.path.relpath(catalog.warehouse / path, at)).as_posix()


def write_edition_report(
    catalog: Catalog, edition: int, version: Path, manifest: dict[str, Any], clean: Any,
    workers: Executor | None = None,
) -> Path:  # fmt: skip
    """The step: the report of the staged `version` into `version/report/`, so that it is
    published (or not) with the edition, against the editions published now (city pages drawn
    by `workers` when given)."""
    current = read_edition(version, manifest)
    data = ReportData(current, published(catalog, skip=edition), clean.framework_table,
                      clean.cities, clean.method.results.top_n)  # fmt: skip
    link = data_docs_link(catalog, manifest, catalog.edition_report(edition))
    return build_report(data, catalog.staged_report(version), link, workers)


def report_data(catalog: Catalog, edition: int) -> ReportData:
    """A published edition's report data, the framework and names read from the catalog."""
    if not catalog.manifest(edition).exists():
        raise FileNotFoundError(f"edition {edition} is not published in {catalog.warehouse}")
    framework = load.read_csv(catalog.framework, load.FRAMEWORK)
    cities = load.read_csv(catalog.cities, load.CITIES)
    top_n = read_method(catalog.method).results.top_n
    return ReportData(read_edition(catalog.edition_dir(edition)), published(catalog, skip=edition),
                      framework, cities, top_n)  # fmt: skip


def rebuild_report(catalog: Catalog, edition: int, out: Path | None = None) -> Path:
    """`coopindex report --edition N`: the report of a published edition, into `out` (default
    warehouse/report/edition=N/), against every edition published now."""
    out = out or catalog.rebuilt_report(edition)
    link = data_docs_link(catalog, report_data(catalog, edition).current.manifest, out)
    return build_report(report_data(catalog, edition), out, link)


def write_index(catalog: Catalog, rebuild_missing: bool = False) -> Path:
    """warehouse/report/index.html, linking each edition's published report (or, with
    `rebuild_missing`, a rebuilt one for an edition published without a report)."""
    editions = published(catalog)
    links = {}
    for ed in editions:
        target = catalog.edition_report(ed.edition) / "index.html"
        if not target.exists() and (rebuild_missing or (catalog.rebuilt_report(ed.edition)).exists()):
            target = catalog.rebuilt_report(ed.edition) / "index.html"
            if not target.exists():
                rebuild_report(catalog, ed.edition)
        links[ed.edition] = Path(os.path.relpath(target, catalog.reports)).as_posix()
    cities = load.read_csv(catalog.cities, load.CITIES) if catalog.cities.exists() else pd.DataFrame(
        columns=["city_code", "name_en", "name_zh"])  # fmt: skip
    return build_index(list(editions), cities, catalog.reports, links)
