"""The reference tables a trade file is checked against: cities, CEEC members and FX rates.

Each is validated with its own GX suite (any bad row stops the ingest) before any trade file is
read. Those checks are a pure function of the tables' bytes and their suites, so the store
records the key of the ones it was built with (`checks_key`, in its manifest as
`references_checked`): a run that finds the same key again knows they passed and does not run
them (GX's import and a context, seconds, for three small tables). Anything changed (a byte of
a table, its suite, the ingest's version) gives another key, and the checks run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from tasks.quality import load
from tasks.quality.validation import DataValidationError, raise_for_failures, validate
from tasks.trade.file import DATASET, References
from tasks.trade.fx import fx_keys
from tasks.trade.membership import member_keys
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.manifest import sha256

INGEST_VERSION = "2"  # bump when the ingest's output for the same input changes
CONTRACTS = {"cities": load.CITIES, "ceec_members": load.CEEC_MEMBERS, "fx_rates": load.FX_RATES}


class InvalidReferencesError(DataValidationError):
    """Cities, members or FX rates fail their own checks: no trade file can be checked against them."""


def paths(catalog: Catalog) -> dict[str, Path]:
    return {"cities": catalog.cities, "ceec_members": catalog.ceec_members, "fx_rates": catalog.fx_rates}


def checks_key(suites: Path, digests: Mapping[str, str]) -> str:
    """What the reference tables' own checks depend on: each table's bytes and its suite."""
    digest = hashlib.sha256(f"references {INGEST_VERSION}".encode())
    for name in sorted(digests):
        digest.update(f"\n{name} {digests[name]} ".encode())
        digest.update((suites / f"{name}.json").read_bytes())
    return digest.hexdigest()


def read_references(
    catalog: Catalog, years: Iterable[int], max_share: float, passed: str | None = None
) -> References:
    """Cities, members and FX rates, validated with their own suites unless `passed` (the key
    the published store recorded) says these very tables already passed these very suites."""
    tables = paths(catalog)
    load.check_inside(tables.values(), catalog.raw)
    frames = {
        name: load.read_csv(path, CONTRACTS[name], catalog.relative(path)) for name, path in tables.items()
    }
    digests = {name: sha256(path) for name, path in tables.items()}
    checked = checks_key(catalog.expectations, digests)
    if checked != passed:
        try:
            raise_for_failures(
                validate(frame, name, suites=catalog.expectations) for name, frame in frames.items()
            )
        except DataValidationError as error:
            raise InvalidReferencesError(error.failures) from None
    fx = frames["fx_rates"]
    rates = {
        f"{y}:{c}": float(r) for y, c, r in zip(fx["year"], fx["currency"], fx["cny_per_unit"], strict=True)
    }
    rates |= {f"{y}:CNY": 1.0 for y in fx["year"].unique()}
    years = sorted(set(years))
    parameters = {
        "known_cities": sorted(frames["cities"]["city_code"]),
        "member_keys": member_keys(frames["ceec_members"], years),
        "fx_keys": fx_keys(fx),
    }
    fingerprint = hashlib.sha256()
    for part in (INGEST_VERSION, repr(max_share), (catalog.expectations / f"{DATASET}.json").read_text(),
                 *digests.values()):  # fmt: skip
        fingerprint.update(part.encode())
    return References(parameters, rates, max_share, fingerprint.hexdigest(), catalog.expectations, checked)
