"""Plausibility rules: a customs row worth more than any row can be, a row far above its key's
usual months, a city trading more than the country. Real GX, real files."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tasks.edition.pipeline import EDITION
from tasks.quality import load
from tasks.quality.quarantine import triage
from tasks.quality.validation import validate
from tasks.trade.file import with_cny, with_keys
from tasks.trade.ingest import update_store
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tests.conftest import coopindex_run

SUITES = PROJECT_ROOT / "expectations"
PARAMETERS = {
    "known_cities": ["NGB", "TSN"],
    "member_keys": ["2018:POL", "2018:HUN"],
    "fx_keys": ["2018:CNY", "2018:USD"],
}
RATES = {"2018:USD": 6.617, "2018:CNY": 1.0}


def _records(rows: list[tuple[str, str, str, str, float, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["reporter_city", "partner", "flow", "hs2", "value", "currency"])
    frame.insert(0, "period", "2018-04")
    frame["source_file"] = "raw/trade/2018/2018-04.csv"
    frame["source_line"] = range(2, len(frame) + 2)
    return with_cny(with_keys(frame), RATES)


def test_a_row_worth_more_than_the_ceiling_in_cny_is_set_aside_with_its_reason():
    frame = _records(
        [("NGB", "POL", "export", "08", 6015.87, "USD"), ("NGB", "HUN", "export", "08", 1e300, "USD"),
         ("TSN", "POL", "import", "85", 2e10, "USD"),  # 132 billion CNY: above 100 billion
         ("TSN", "HUN", "import", "85", 9e10, "CNY")]  # under the ceiling
    )  # fmt: skip
    outcome = validate(frame, "trade_records", PARAMETERS, suites=SUITES)
    checked = triage(frame, outcome, 1.0)
    rows = checked.quarantined
    assert rows[["line", "column", "value"]].values.tolist() == [
        [3, "value", "1e+300"],
        [4, "value", "20000000000.0"],
    ]
    assert set(rows["expected"]) == {
        "a row worth at most 100,000,000,000 CNY (value x the FX rate of its year and currency): "
        "no customs row is a quarter of China's yearly trade with the members"
    }
    assert checked.clean["source_line"].tolist() == [2, 5]


def test_the_ceiling_is_read_from_the_suite(tmp_path):
    suites = tmp_path / "expectations"
    shutil.copytree(SUITES, suites)
    path = suites / "trade_records.json"
    path.write_text(path.read_text().replace('"max_value": 100000000000', '"max_value": 10000'))
    frame = _records(
        [("NGB", "POL", "export", "08", 6015.87, "USD"), ("NGB", "HUN", "export", "08", 1000, "USD")]
    )
    outcome = validate(frame, "trade_records", PARAMETERS, suites=suites)
    failed = triage(frame, outcome, 1.0).quarantined
    assert failed["line"].tolist() == [2]
    assert failed["expected"].iloc[0].startswith("a row worth at most 10,000 CNY")


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    shutil.copytree(PROJECT_ROOT / "raw" / "reference", root / "reference")
    (root / "trade" / "2018").mkdir(parents=True)
    for month in ("2018-01", "2018-02"):
        shutil.copy(PROJECT_ROOT / "raw" / "trade" / "2018" / f"{month}.csv", root / "trade" / "2018")
    return root


def set_value(path: Path, index: int, value: str) -> None:
    """Write `value` into the value cell of line `index` (0-based: 0 is the header) of a trade file."""
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[index].split(",")
    cells[5] = value
    lines[index] = ",".join(cells)
    path.write_text("".join(lines))


def test_the_ingest_quarantines_a_1e300_row_and_keeps_it_out_of_the_facts(raw, tmp_path):
    path = raw / "trade" / "2018" / "2018-02.csv"
    set_value(path, 9, "1e300")
    warehouse = tmp_path / "warehouse"
    report = update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    assert report.rows_quarantined == 1
    quarantine = pd.read_parquet(warehouse / "trade" / "quarantine.parquet")
    assert quarantine[["file", "line", "column", "value"]].values.tolist() == [
        ["raw/trade/2018/2018-02.csv", 10, "value", "1e+300"]
    ]
    facts = pq.read_table(warehouse / "trade" / "facts").to_pandas()
    assert facts["value_cny"].max() < 1e11
    assert (
        len(load.read_csv(path, load.TRADE_RECORDS))
        == len(facts[facts["source_file"] == "raw/trade/2018/2018-02.csv"]) + 1
    )


def test_a_city_trading_more_than_the_country_is_critical():
    frame = pd.DataFrame(
        {"year": [2018, 2018], "flow": ["export", "export"], "city_code": ["NGB", "TSN"],
         "city_cny": [3.0e11, 6.6e300], "national_cny": [3.889e11, 3.889e11],
         "source_file": "raw/reference/national_trade.csv", "source_line": [12, 12]}
    )  # fmt: skip
    frame["city_share"] = frame["city_cny"] / frame["national_cny"]
    outcome = validate(frame, "city_reconciliation", {}, suites=SUITES)
    assert not outcome.success
    [failure] = outcome.failures
    assert failure.severity == "critical"
    assert failure.describe().startswith(
        "raw/reference/national_trade.csv, line 12, column 'city_cny': expected each city's trade in a year"
    )
    assert "found 1.697" in failure.describe()


@pytest.mark.slow
def test_coopindex_run_quarantines_a_1e300_row_and_publishes_the_rest(raw_copy, warehouse, prefect_home):
    """A real `coopindex run` (its own process and Prefect server): the row is in the edition's
    quarantine.parquet with its reason, and no score is built on it."""
    set_value(raw_copy / "trade" / "2018" / "2018-07.csv", 41, "1e300")
    result = coopindex_run(raw_copy, warehouse, prefect_home)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "1 bad row(s) quarantined: see quarantine.parquet in the edition" in output
    quarantine = pd.read_parquet(warehouse / "edition=2018" / "quarantine.parquet")
    assert quarantine[["file", "line", "column", "value", "severity"]].values.tolist() == [
        ["raw/trade/2018/2018-07.csv", 42, "value", "1e+300", "critical"]
    ]
    assert quarantine["expected"].iloc[0].startswith("a row worth at most 100,000,000,000 CNY")
    scores = pd.read_parquet(warehouse / "edition=2018" / "scores.parquet")
    facts = pd.read_parquet(warehouse / "edition=2018" / "trade_facts.parquet")
    assert facts["value_cny"].max() < 1e11 and scores.select_dtypes("number").abs().max().max() < 1e6
    # What the run sent its temporary server was written before the command stopped it: every
    # task run, and the logs up to the flow's last line.
    with contextlib.closing(sqlite3.connect(prefect_home / "prefect.db")) as db:
        (run_id,) = db.execute("SELECT id FROM flow_run WHERE name = 'edition-2018'").fetchone()
        (task_runs,) = db.execute("SELECT count(*) FROM task_run WHERE flow_run_id = ?", (run_id,)).fetchone()
        logs = [m for (m,) in db.execute("SELECT message FROM log WHERE flow_run_id = ?", (run_id,))]
    assert task_runs == len(EDITION.steps)
    assert "Finished in state Completed()" in logs
    assert any(m.startswith("published edition 2018") for m in logs)
