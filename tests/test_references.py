"""The reference tables' own checks: run whenever a table or its suite changed, not again when
the store recorded that these very tables passed these very suites."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tasks.trade.ingest import update_store
from tasks.trade.references import InvalidReferencesError, checks_key, paths, read_references
from tasks.trade.store import published
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tasks.warehouse.manifest import sha256


@pytest.fixture()
def catalog(tmp_path: Path) -> Catalog:
    """Reference tables, one month of trade and a copy of the suites, all free to edit."""
    raw = tmp_path / "raw"
    shutil.copytree(PROJECT_ROOT / "raw" / "reference", raw / "reference")
    (raw / "trade" / "2018").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "raw" / "trade" / "2018" / "2018-01.csv", raw / "trade" / "2018")
    shutil.copytree(PROJECT_ROOT / "expectations", tmp_path / "expectations")
    return Catalog(raw=raw, warehouse=tmp_path / "warehouse", expectations=tmp_path / "expectations")


def _key(catalog: Catalog) -> str:
    return checks_key(catalog.expectations, {name: sha256(path) for name, path in paths(catalog).items()})


def _duplicate_first_city(catalog: Catalog) -> None:
    """A second row with the first city's code: `city_code` must be unique."""
    lines = catalog.cities.read_text().splitlines()
    catalog.cities.write_text("\n".join([*lines, lines[1]]) + "\n")


def test_the_store_records_the_key_of_the_checks_its_tables_passed(catalog):
    update_store(catalog, workers=1)
    assert published(catalog)["references_checked"] == _key(catalog)


def test_a_recorded_key_skips_the_checks_and_any_other_key_runs_them(catalog):
    _duplicate_first_city(catalog)
    with pytest.raises(InvalidReferencesError, match="city_code"):
        read_references(catalog, [2018], 0.001)
    with pytest.raises(InvalidReferencesError, match="city_code"):
        read_references(catalog, [2018], 0.001, passed="a key of other tables")
    # Only the key of exactly these bytes and suites stands for checks that passed.
    assert read_references(catalog, [2018], 0.001, passed=_key(catalog)).checked == _key(catalog)


def test_a_current_store_with_a_changed_suite_runs_the_checks_again(catalog):
    update_store(catalog, workers=1)
    assert update_store(catalog, workers=1).reused == ["2018/2018-01.csv"]  # current: checks skipped
    suite = catalog.expectations / "cities.json"
    spec = json.loads(suite.read_text())
    spec["expectations"].append(
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "city_code", "value_set": ["NGB"]},
         "meta": {"severity": "critical"}}
    )  # fmt: skip
    suite.write_text(json.dumps(spec))
    with pytest.raises(InvalidReferencesError, match="city_code"):
        update_store(catalog, workers=1)


def test_a_current_store_with_a_changed_table_runs_the_checks_again(catalog):
    update_store(catalog, workers=1)
    _duplicate_first_city(catalog)
    with pytest.raises(InvalidReferencesError, match="city_code"):
        update_store(catalog, workers=1)
