"""The edition's steps as plain functions (no Prefect): per-indicator settings in the framework."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from tasks.edition import checks, scoring
from tasks.edition.pipeline import EDITION, start
from tasks.quality.validation import DataValidationError
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tests.conftest import seeded_warehouse


@pytest.fixture(scope="module")
def warehouse(shipped_store, tmp_path_factory):
    return seeded_warehouse(shipped_store, tmp_path_factory.mktemp("steps") / "warehouse")


@pytest.fixture(scope="module")
def inputs_2018(warehouse):
    return read(Catalog(warehouse=warehouse))


def read(catalog):
    """Edition 2018's inputs as the pipeline reads them: the trade store brought up to date first."""
    return EDITION.between(last="load-inputs").run(start(catalog, 2018))["inputs"]


def scored(inputs):
    facts = scoring.derive_trade(inputs)
    return scoring.score(inputs, scoring.indicator_table(inputs, facts))


def test_the_shipped_framework_scores_every_city(inputs_2018):
    stages = scored(inputs_2018)
    assert stages.reports["screening"]["kept"].all()
    assert not stages.reports["treatment"]["treated"].any()  # the default method treats nothing


def test_a_framework_column_sets_one_indicators_normalisation(tmp_path, inputs_2018, warehouse):
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    table = pd.read_csv(config / "framework.csv", keep_default_na=False)
    table["normalise"] = ["percentile" if code == "ceec_tourists" else "" for code in table["code"]]
    table["goalpost_low"] = ["0" if code == "trade_growth" else "" for code in table["code"]]
    table["goalpost_high"] = ["25" if code == "trade_growth" else "" for code in table["code"]]
    table.loc[table["code"] == "trade_growth", "normalise"] = "goalposts"
    table.to_csv(config / "framework.csv", index=False)

    inputs = read(Catalog(config=config, warehouse=warehouse))
    stages = scored(inputs)
    tourists = stages.treated["ceec_tourists"]
    # COINr's percentile rank x 100, ties averaged as config/method.yaml says (normalise.ties)
    percentile = (tourists.rank(method="average") - 1) / (tourists.notna().sum() - 1) * 100
    pd.testing.assert_series_equal(stages.normalised["ceec_tourists"], percentile)
    growth = stages.treated["trade_growth"]
    assert stages.normalised["trade_growth"].tolist() == pytest.approx((growth.clip(0, 25) * 4).tolist())
    # every other indicator as with the shipped framework
    nominal = scored(inputs_2018).normalised
    others = [c for c in nominal.columns if c not in ("ceec_tourists", "trade_growth")]
    pd.testing.assert_frame_equal(stages.normalised[others], nominal[others])


def test_latest_imputation_fills_a_gap_with_the_citys_previous_year(tmp_path, raw_copy, warehouse):
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    method = (
        (config / "method.yaml")
        .read_text()
        .replace("  method: none         # missing stays", "  method: latest  # missing stays")
    )
    (config / "method.yaml").write_text(method)
    people = raw_copy / "indicators" / "people.csv"
    table = pd.read_csv(people)
    gap = (table["year"] == 2018) & (table["city_code"] == "TSN") & (table["indicator"] == "ceec_tourists")
    before = table.loc[
        (table["year"] == 2017) & (table["city_code"] == "TSN") & (table["indicator"] == "ceec_tourists"),
        "value",
    ]
    table[~gap].to_csv(people, index=False)

    inputs = read(Catalog(raw=raw_copy, config=config, warehouse=warehouse))
    assert inputs.method.impute.method == "latest"
    stages = scored(inputs)
    assert pd.isna(stages.raw.loc["TSN", "ceec_tourists"])
    assert stages.imputed.loc["TSN", "ceec_tourists"] == before.item()
    assert stages.imputed.drop(index="TSN").equals(stages.raw.drop(index="TSN"))


def test_cross_checks_warn_when_the_cities_together_outtrade_the_country_or_lack_values(inputs_2018):
    import dataclasses

    imports = scoring.derive_trade(inputs_2018)["imports_cny"]
    national = inputs_2018.national_trade.copy()
    shrunk = (national["year"] == 2018) & (national["flow"] == "import")
    # Below what the cities import together, above what any one of them does: a warning (the
    # two figures come from different sources), not a stop.
    national.loc[shrunk, "value_cny"] = (imports.max() + imports.sum()) / 2
    inputs = dataclasses.replace(inputs_2018, national_trade=national)
    facts = scoring.derive_trade(inputs)
    values = scoring.indicator_table(inputs, facts)
    values = values[~((values["city_code"] == "LHW") & (values["origin"] == "indicators"))]
    reconciliation, by_city, coverage = checks.check_derived(Catalog(), inputs, values)

    assert reconciliation.success and coverage.success and by_city.success  # warnings do not stop
    (failure,) = reconciliation.failures
    assert failure.severity == "warning" and failure.unexpected_count == 1
    assert failure.examples[0][:2] == (
        "raw/reference/national_trade.csv",
        int(national.loc[shrunk, "source_line"].item()),
    )
    (short,) = coverage.failures
    assert short.examples[0][2] < 2 / 3 and "cities.csv" in short.examples[0][0]


def test_one_city_above_the_national_total_stops_the_edition(inputs_2018):
    import dataclasses

    imports = scoring.derive_trade(inputs_2018).set_index("city_code")["imports_cny"]
    national = inputs_2018.national_trade.copy()
    shrunk = (national["year"] == 2018) & (national["flow"] == "import")
    national.loc[shrunk, "value_cny"] = imports.max() / 2  # the biggest importer alone is above it
    inputs = dataclasses.replace(inputs_2018, national_trade=national)
    values = scoring.indicator_table(inputs, scoring.derive_trade(inputs))
    with pytest.raises(DataValidationError) as stopped:
        checks.check_derived(Catalog(), inputs, values)
    message = str(stopped.value)
    line = int(national.loc[shrunk, "source_line"].item())
    assert "[city_reconciliation] raw/reference/national_trade.csv" in message and f"line {line}" in message
