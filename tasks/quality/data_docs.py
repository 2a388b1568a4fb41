"""Great Expectations Data Docs for one run's validations, written into the warehouse.

Data stewards browse what was checked and what failed, file by file, in GX's own HTML site.
Every run gets its own (`warehouse/runs/<run_id>/data_docs/index.html`), failed runs included:
those are the ones worth reading. Design choices, and why:

* One page per input file (`tasks.quality.docs_pages`): its counts are the ones the per-file
  quarantine rule judged, and its failing values are listed with their file and line.
* The site opens offline, from a laptop or an air-gapped server: GX's templates load Bootstrap,
  jQuery and icons from public CDNs, so `localise` points every page at copies shipped in
  `data_docs_static/` and drops what the pages do not need (Vega, a dark theme, the newsletter
  footer); GX's logo comes from the site's own copy. Any other script, stylesheet, image or CSS
  url() from outside the site is removed, so a GX upgrade that adds a CDN cannot make the pages
  phone home.
* Pruning keeps the sites of the newest `KEEP_RUNS` runs and every site a kept edition's
  manifest links to: a published edition never links to a deleted report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Collection, Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

KEEP_RUNS = 5
ASSETS = Path(__file__).with_name("data_docs_static")
VENDOR = ("static", "vendor")  # where a site holds ASSETS
_IMAGES = ("static", "images")  # GX's own images (its logo), which GX copies into every site
# CDN address in GX 1.24.1's templates -> the shipped copy (Bootstrap's bundle includes Popper).
_VENDORED = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1.bundle.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table-1.19.1.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table-1.19.1.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": "bootstrap-table-filter-control-1.19.1.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": "bootstrap-table-filter-control-1.19.1.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": "bootstrap-table-filter-control-1.19.1.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker-1.9.0.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker-1.9.0.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "icons.css",
}
_SCRIPT = re.compile(r"<script\b[^>]*?\bsrc=[\"'](https?://[^\"']+)[\"'][^>]*>\s*</script>", re.I)
_STYLESHEET = re.compile(r"<link\b[^>]*?\bhref=[\"'](https?://[^\"']+)[\"'][^>]*>", re.I)
_IMAGE = re.compile(r"(<img\b[^>]*?\bsrc=)[\"'](https?://[^\"']+)[\"']([^>]*>)", re.I)
_CSS_URL = re.compile(r"url\(\s*[\"']?https?://[^)]*\)", re.I)
_FOOTER = re.compile(r"<footer>.*?</footer>", re.I | re.S)


def build(
    pages: Iterable[tuple[dict, object, str]], folder: Path, run_id: str, referenced: Collection[Path] = ()
) -> Path:
    """Render ``(suite spec, GX suite result or its JSON, source file)`` as a Data Docs site.

    Each item is one page, named by its file. ``referenced`` are Data Docs folders that pruning
    must keep (those a manifest links to). Returns the site's index.html.
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = gx.get_context(mode="ephemeral")
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    context.add_data_docs_site(site_name="coopindex", site_config=site)
    run = RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))
    added = set()
    store = context.validation_results_store
    for spec, result, file in pages:
        if spec["name"] not in added:
            context.suites.add(gx.ExpectationSuite(name=spec["name"], expectations=spec["expectations"]))
            added.add(spec["name"])
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=spec["name"]),
            run_id=run,
            batch_identifier=page_name(file),
        )
        if isinstance(result, dict):  # already GX's JSON: stored as the store would write it, not
            # loaded into GX's objects only to be serialised back (most of the build's time)
            store.store_backend.set(store.key_to_tuple(key), _stored(result))
        else:
            store.store_validation_results(result, key)
    context.build_data_docs(site_names=["coopindex"])
    localise(folder)
    prune(folder.parent.parent, keep={folder.resolve(), *referenced})
    return folder / "index.html"


@dataclass(frozen=True)
class Site:
    """A run's Data Docs site, built or being built by a worker process: where its index page
    will be is known at once, `wait()` returns once it is written (raising what the build raised)."""

    index: Path
    building: Future | None = None

    def wait(self) -> Path:
        if self.building is not None:
            self.building.result()
        return self.index


def build_site(
    pages: list[tuple[dict, dict, str]], folder: Path, run_id: str, referenced: Collection[Path] = (),
    workers: Executor | None = None,
) -> Site:  # fmt: skip
    """`build`, in `workers` when given (the pages are JSON: cheap to send): a run goes on
    scoring while its Data Docs, ~1 s of GX's site builder, are written beside it."""
    if workers is None:
        return Site(build(pages, folder, run_id, referenced))
    return Site(folder / "index.html", workers.submit(build, pages, folder, run_id, referenced))


def _stored(result: dict) -> str:
    """A suite result's JSON as GX's validation results store keeps it (checked by GX's schema
    when the site is built)."""
    return json.dumps(result, indent=2, sort_keys=True)


def page_name(file: str) -> str:
    """A file's page name: its path with "/" as "_" (GX's store keys refuse "/")."""
    return file.replace("/", "_")


def localise(site: Path) -> None:
    """Point every page of ``site`` at the shipped assets, and drop anything else from outside."""
    vendor = site.joinpath(*VENDOR)
    shutil.copytree(ASSETS, vendor, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    for page in site.rglob("*.html"):
        page.write_text(_localised(page.read_text(encoding="utf-8"), page, site), encoding="utf-8")


def _localised(html: str, page: Path, site: Path) -> str:
    def local(name: str, folder: tuple[str, ...] = VENDOR) -> str:
        return Path(os.path.relpath(site.joinpath(*folder, name), page.parent)).as_posix()

    def script(match: re.Match[str]) -> str:
        name = _VENDORED.get(match.group(1).split("?")[0])
        return f'<script src="{local(name)}"></script>' if name else ""

    def stylesheet(match: re.Match[str]) -> str:
        name = _VENDORED.get(match.group(1).split("?")[0])
        return f'<link rel="stylesheet" href="{local(name)}">' if name else ""

    html = _SCRIPT.sub(script, html)
    html = _STYLESHEET.sub(stylesheet, html)

    def image(match: re.Match[str]) -> str:
        name = match.group(2).split("?")[0].rsplit("/", 1)[-1]
        found = site.joinpath(*_IMAGES, name).is_file()
        return f'{match.group(1)}"{local(name, _IMAGES)}"{match.group(3)}' if found else ""

    html = _IMAGE.sub(image, html)
    html = _CSS_URL.sub("none", html)
    return _FOOTER.sub("", html)


def prune(runs: Path, keep: Collection[Path]) -> None:
    """Keep the Data Docs of the newest `KEEP_RUNS` runs and those in ``keep``; other run files stay."""
    sites = sorted(runs.glob("*/data_docs"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    kept = {Path(p).resolve() for p in keep}
    for old in sites[KEEP_RUNS:]:
        if old.resolve() not in kept:
            shutil.rmtree(old, ignore_errors=True)
