"""What a run checks before any server starts: its folders, its method, the edition's trade data.

These are the mistakes of a command line (a mistyped folder, an edition with no data), not
of the data: each is found in well under a second and said once, with what does exist,
instead of after a Prefect server has started and a flow has failed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tasks.edition.inputs import trade_years
from tasks.engine.method import Method, read_method
from tasks.warehouse.catalog import Catalog


class PreflightError(ValueError):
    """A run cannot start; the message says what is missing and what exists instead."""


def span(years: list[int]) -> str:
    """`2015–2020` for a run of consecutive years, else the years listed."""
    if not years:
        return "none"
    if years == list(range(years[0], years[-1] + 1)) and len(years) > 2:
        return f"{years[0]}–{years[-1]}"
    return ", ".join(map(str, years))


def scorable_editions(catalog: Catalog, method: Method) -> list[int]:
    """Every edition whose trade years (its own, the one before, the import base) all have files."""
    have = {y for y in catalog.trade_years() if catalog.trade_files(y)}
    return [e for e in sorted(have) if set(trade_years(e, method)) <= have]


def check_folders(catalog: Catalog, writes: bool = True) -> None:
    """The raw and config folders exist with the files a run reads first; a run's warehouse can be written."""
    for label, folder in (("raw", catalog.raw), ("config", catalog.config)):
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise PreflightError(f"the {label} folder {folder} {what}")
    for path in (catalog.framework, catalog.method):
        if not path.is_file():
            needs = "the config folder needs framework.csv and method.yaml"
            raise PreflightError(f"{path} does not exist: {needs}")
    if writes:
        _check_writable(catalog.warehouse)


def _check_writable(target: Path) -> None:
    """Make the warehouse folder (a run would) and write a probe file in it: permissions alone do
    not say it (root passes every check, a read-only file system or /proc does not)."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as exc:
        raise PreflightError(
            f"the warehouse {target} cannot be written ({exc.strerror or exc}): "
            "choose another with --warehouse, or fix its permissions or free space"
        ) from None


def preflight(catalog: Catalog, edition: int, writes: bool = True) -> Method:
    """Check what `coopindex run --edition N` needs before it starts; returns the method read.

    `writes=False` (validate) leaves the warehouse alone: it is not written, so not probed.
    """
    check_folders(catalog, writes)
    method = read_method(catalog.method)
    needed = trade_years(edition, method)
    missing = [y for y in needed if not catalog.trade_files(y)]
    if missing:
        scorable = scorable_editions(catalog, method)
        published = catalog.published_editions()
        where = catalog.relative(catalog.trade)
        raise PreflightError(
            f"edition {edition} cannot be scored: no trade files for {', '.join(map(str, missing))} in "
            f"{where}/ (edition {edition} reads {', '.join(map(str, needed))}; expected "
            f"{where}/{missing[0]}/{missing[0]}-MM.csv). Editions raw/ can score: {span(scorable)}; "
            f"published: {span(published)}"
        )
    return method
