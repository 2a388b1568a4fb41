"""The history rule: a trade row far above the other months of its city, partner, flow and HS
chapter. Real GX on the shipped suite, real store files, the in-memory edition pipeline."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tasks.edition.checks import history_checks
from tasks.quality.data_docs import page_name
from tasks.quality.quarantine import triage
from tasks.quality.suites import load_suite
from tasks.quality.validation import validate
from tasks.trade.history import DATASET, history_frame, with_history
from tasks.trade.store import view
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tests.conftest import run_data_steps, seeded_warehouse

SUITES = PROJECT_ROOT / "expectations"
# BJS exports to Albania in HS chapter 94, July 2018: 98,538.18 CNY, 1.19 times the median of
# its 18 other months in 2016-2018. With three zeros more: 98.5 million CNY, below the ceiling.
WILD_FILE, WILD_LINE, WILD_VALUE = "raw/trade/2018/2018-07.csv", 47, "98538180"


def _rule(suites: Path) -> dict:
    spec = json.loads((suites / f"{DATASET}.json").read_text())
    return spec["expectations"][1]


def _suites_with(tmp_path: Path, change) -> Path:
    """A copy of the shipped suites with the history rule changed by `change(rule)`."""
    suites = tmp_path / "expectations"
    shutil.copytree(SUITES, suites)
    spec = json.loads((suites / f"{DATASET}.json").read_text())
    change(spec["expectations"][1])
    (suites / f"{DATASET}.json").write_text(json.dumps(spec))
    return suites


def _without_condition(column: str):
    def change(rule: dict) -> None:
        condition = rule["kwargs"]["row_condition"]
        condition["conditions"] = [c for c in condition["conditions"] if c["column"]["name"] != column]

    return change


def _key(months: list[float]) -> pd.DataFrame:
    """One key's months of 2018 in CNY, one row each, lines 2, 3, ... of one file."""
    frame = pd.DataFrame(
        {
            "source_file": "raw/trade/2018/2018-all.csv",
            "source_line": range(2, len(months) + 2),
            "period": [f"2018-{m:02d}" for m in range(1, len(months) + 1)],
            "reporter_city": "NGB",
            "partner": "POL",
            "flow": "export",
            "hs2": "08",
            "value": months,
            "value_cny": months,
        }
    )
    return with_history(frame)


def _failing_lines(frame: pd.DataFrame, suites: Path = SUITES) -> list[int]:
    outcome = validate(frame, DATASET, suites=suites)
    return triage(frame, outcome, 1.0).quarantined["line"].tolist()


def test_the_rule_is_its_suites_with_bounds_and_severity_in_the_file():
    rule = _rule(SUITES)
    assert rule["meta"]["severity"] == "critical" and rule["kwargs"]["max_value"] == 500
    floors = {c["column"]["name"]: c["parameter"] for c in rule["kwargs"]["row_condition"]["conditions"]}
    assert floors == {"value_cny": 1_000_000, "other_months": 6}


def test_a_month_a_thousand_times_its_keys_others_fails_with_its_line():
    frame = _key([2e6] * 12 + [2e9])
    assert frame["median_other_months"].iloc[-1] == 2e6 and frame["other_months"].iloc[-1] == 12
    assert _failing_lines(frame) == [14]
    # the median of the *other* months: the wild month does not lift the others' yardstick
    assert frame["median_other_months"].iloc[0] == 2e6


def test_below_the_floor_a_wild_month_is_not_judged(tmp_path):
    frame = _key([100.0] * 12 + [900_000.0])  # 9,000 times its key's usual month, under 1,000,000 CNY
    assert frame["ratio"].iloc[-1] == 9000
    assert _failing_lines(frame) == []
    assert _failing_lines(frame, _suites_with(tmp_path, _without_condition("value_cny"))) == [14]


def test_with_fewer_other_months_than_the_minimum_the_rule_waits(tmp_path):
    few = _key([2e6] * 5 + [2e9])  # 5 other months: one short of 6
    assert few["other_months"].iloc[-1] == 5
    assert _failing_lines(few) == []
    assert _failing_lines(few, _suites_with(tmp_path, _without_condition("other_months"))) == [7]
    assert _failing_lines(_key([2e6] * 6 + [2e9])) == [8]  # 6 are enough


def test_every_edition_of_the_shipped_sample_passes_the_rule(shipped_store):
    """GX judges edition 2018 (every other edition's run judges its own); each edition's frame is
    under the suite's bound where the rule applies."""
    catalog = Catalog(warehouse=shipped_store)
    trade = view(catalog, [2016, 2017, 2018])
    outcome, checked, kept = history_checks(catalog, trade, 0.001)
    assert outcome.success and not outcome.failures
    assert checked.removed == 0 and kept is trade
    bound = load_suite(DATASET, SUITES)["expectations"][1]["kwargs"]["max_value"]
    for edition in range(2013, 2021):
        frame = history_frame(view(catalog, [edition - 2, edition - 1, edition]))
        judged = frame[(frame["value_cny"] >= 1_000_000) & (frame["other_months"] >= 6)]
        assert len(judged) > 1000 and judged["ratio"].max() <= bound == 500, edition
        if edition == 2018:
            assert 80 < judged["ratio"].max() < 100  # contracts.md: 84.3


def _wild_edition(shipped_store: Path, root: Path, suites: Path | None = None) -> tuple[Catalog, dict]:
    raw = root / "raw"
    shutil.copytree(PROJECT_ROOT / "raw", raw)
    path = raw / WILD_FILE.removeprefix("raw/")
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[WILD_LINE - 1].split(",")
    assert cells[1:5] == ["BJS", "ALB", "export", "94"] and cells[5] == "98538.18"
    cells[5] = WILD_VALUE
    lines[WILD_LINE - 1] = ",".join(cells)
    path.write_text("".join(lines))
    catalog = Catalog.at(raw, seeded_warehouse(shipped_store, root / "warehouse"))
    if suites is not None:
        catalog = dataclasses.replace(catalog, expectations=suites)
    return catalog, run_data_steps(catalog, 2018)


@pytest.fixture(scope="module")
def wild_row(shipped_store, tmp_path_factory) -> tuple[Catalog, dict]:
    return _wild_edition(shipped_store, tmp_path_factory.mktemp("wild-row"))


def test_a_row_with_three_zeros_more_is_quarantined_and_the_edition_published_without_it(wild_row):
    catalog, data = wild_row
    quarantine = pd.read_parquet(catalog.dataset(2018, "quarantine"))
    assert quarantine[["dataset", "file", "line", "column", "value", "severity"]].values.tolist() == [
        [DATASET, WILD_FILE, WILD_LINE, "value", "98538180.0", "critical"]
    ]
    assert (
        quarantine["expected"]
        .iloc[0]
        .startswith(
            "a row worth at most 500 times the median in CNY of the other months of its city, partner, flow"
        )
    )
    assert quarantine["expected"].iloc[0].endswith("(where value_cny >= 1,000,000 and other_months >= 6)")
    assert data["manifest"]["summary"]["quarantined_rows"] == 1
    facts = pd.read_parquet(catalog.dataset(2018, "trade_facts"))
    july = facts[facts["source_file"] == WILD_FILE]
    assert WILD_LINE not in set(july["source_line"]) and len(july) > 16_000
    # the city's figures are the sums of the facts published, without the row
    city = pd.read_parquet(catalog.dataset(2018, "city_trade")).set_index("city_code")
    exports = facts[(facts["reporter_city"] == "BJS") & (facts["flow"] == "export")]["value_cny"].sum()
    assert city.loc["BJS", "exports_cny"] == pytest.approx(exports, rel=1e-12)
    validation = pd.read_parquet(catalog.dataset(2018, "validation"))
    rule = validation[(validation["dataset"] == DATASET) & ~validation["success"]]
    assert rule[["column", "severity", "unexpected_count"]].values.tolist() == [["value", "critical", 1]]
    assert rule["examples"].iloc[0].startswith(f"{WILD_FILE}:{WILD_LINE} 1192.4")  # times its median


def test_the_data_docs_page_of_the_file_shows_the_row_with_its_file_and_line(wild_row):
    catalog, data = wild_row
    site = (catalog.warehouse / data["reports"]["data_docs"]).parent
    (page,) = site.glob(f"validations/{DATASET}/*/*/{page_name(WILD_FILE)}.html")
    text = " ".join(page.read_text().replace("<", " <").replace(">", "> ").split())
    assert "1 unexpected values found." in text
    assert WILD_FILE in text and f"> {WILD_LINE} <" in text
    pages = list(site.glob(f"validations/{DATASET}/*/*/*.html"))
    assert len(pages) == 36  # one per trade file of 2016-2018


def test_as_a_warning_the_row_is_reported_and_kept(shipped_store, tmp_path):
    suites = _suites_with(tmp_path, lambda rule: rule["meta"].update(severity="warning"))
    catalog, data = _wild_edition(shipped_store, tmp_path, suites)
    assert len(pd.read_parquet(catalog.dataset(2018, "quarantine"))) == 0
    validation = pd.read_parquet(catalog.dataset(2018, "validation"))
    rule = validation[(validation["dataset"] == DATASET) & ~validation["success"]]
    assert rule[["severity", "unexpected_count"]].values.tolist() == [["warning", 1]]
    assert rule["examples"].iloc[0].startswith(f"{WILD_FILE}:{WILD_LINE} 1192.4")
    facts = pd.read_parquet(catalog.dataset(2018, "trade_facts"))
    kept = facts[(facts["source_file"] == WILD_FILE) & (facts["source_line"] == WILD_LINE)]
    assert kept["value"].tolist() == [98538180.0]
    assert data["manifest"]["validation"]["warnings"] >= 1
