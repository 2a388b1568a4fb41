"""Whether a published edition is current: made from exactly the files it would read now.

An edition is current when its published manifest records exactly the files the edition
would read now (same sha256 each, none added or removed) and the same method version. A
changed trade file therefore makes stale exactly the editions that read it: its own year,
the next (growth) and the year `trade.import_base_lag` later (import base). Code changes are
not inputs: after changing the code, rerun with `--force`.
"""

from __future__ import annotations

import json

from tasks.engine.method import Method, read_method
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.manifest import checksums


def trade_years(edition: int, method: Method) -> list[int]:
    """The data years whose trade records an edition needs, oldest first (N, N-1 for growth, the base)."""
    return sorted({edition, edition - 1, edition - method.trade.import_base_lag})


# How many changed files a reason names before it says "and N more".
NAMED_CHANGES = 3


def edition_inputs(catalog: Catalog, edition: int) -> dict[str, str]:
    """`{path: sha256}` of every file `edition` would read now, keyed as its manifest keys them.

    The same files and the same keys as the manifest's `inputs` (reference tables, framework,
    method, the trade files of `trade_years`, indicator files; relative to the raw folder's
    parent) and `expectations` (the suites, relative to their folder's parent), merged.
    Files that do not exist are left out: the edition would fail to read them.
    """
    method = read_method(catalog.method)
    files = [p for p in catalog.edition_files(edition, trade_years(edition, method)) if p.is_file()]
    inputs = checksums(files, catalog.raw.parent)
    expectations = checksums(catalog.suite_files(), catalog.expectations.parent)
    return inputs | expectations


def is_current(catalog: Catalog, edition: int) -> tuple[bool, str]:
    """Whether the published `edition` was made from exactly today's inputs and method version.

    Returns (current, reason): "inputs unchanged", "not published", "method version 1.0.0 ->
    1.1.0", "raw/trade/2017/2017-03.csv changed", "raw/indicators/x.csv added", ...
    """
    path = catalog.manifest(edition)
    if not path.is_file():
        return False, "not published"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        recorded = {**manifest["inputs"], **manifest["expectations"]}
        published_version = manifest["method"]["version"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"manifest unreadable ({type(exc).__name__}: {exc})"
    try:
        version = read_method(catalog.method).version
        now = edition_inputs(catalog, edition)
    except (OSError, ValueError) as exc:  # MethodError is a ValueError: let the run say what is wrong
        return False, f"inputs unreadable ({type(exc).__name__})"
    if version != published_version:
        return False, f"method version {published_version} -> {version}"
    changes = [f"{p} changed" for p in sorted(now.keys() & recorded.keys()) if now[p] != recorded[p]]
    changes += [f"{p} added" for p in sorted(now.keys() - recorded.keys())]
    changes += [f"{p} removed" for p in sorted(recorded.keys() - now.keys())]
    if not changes:
        return True, "inputs unchanged"
    more = len(changes) - NAMED_CHANGES
    return False, ", ".join(changes[:NAMED_CHANGES]) + (f" and {more} more" if more > 0 else "")
