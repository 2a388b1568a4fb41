"""The edition on the shipped sample: headline figures, trade facts, outputs, failures.

The figures and outputs are read from the edition published by the real Prefect flow (the
session's `published_2018`, as `coopindex run` publishes it). The other runs here check data
logic (other editions, bad rows, a broken reference file), so they run the declared pipeline
in memory: the same steps the flow runs as tasks, without Prefect (and those that only read
data, without the report and workbook steps: `run_data_steps`).
"""

from __future__ import annotations

import json
import shutil

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tasks.edition.pipeline import EDITION, run_edition, start
from tasks.quality.validation import DataValidationError
from tasks.warehouse.catalog import EDITION_DATASETS, PROJECT_ROOT, Catalog
from tests.conftest import (
    copy_warehouse,
    published_artifacts,
    run_data_steps,
    seeded_warehouse,
    tree_digest,
)


def index_scores(catalog: Catalog, edition: int = 2018) -> pd.Series:
    scores = pd.read_parquet(catalog.dataset(edition, "scores"))
    return scores[scores["node"] == "index"].set_index("city_code")["score"].sort_values(ascending=False)


def test_headline_figures_of_the_2019_evaluation(sample_edition):
    catalog, summary = sample_edition
    index = index_scores(catalog)
    assert list(index.index[:2]) == ["NGB", "TSN"]
    assert round(index["NGB"], 4) == 69.3453
    assert round(index["TSN"], 4) == 40.5675
    assert round(index.head(15).mean(), 4) == round(38.52146, 4)
    assert (index.iloc[2:15] <= index["TSN"]).all()
    assert summary["top"] == "NGB" and summary["cities"] == 30


def test_ningbo_trade_facts_computed_from_the_records(sample_edition):
    catalog, _ = sample_edition
    facts = pd.read_parquet(catalog.dataset(2018, "city_trade")).set_index("city_code").loc["NGB"]
    assert round(facts["trade_bn_cny"], 2) == 24.36
    assert round(facts["trade_growth_pct"], 1) == 23.1
    assert round(facts["trade_share_pct"], 1) == 4.5
    assert round(facts["prev_share_pct"], 1) == 4.3
    assert facts["base_year"] == 2016 and facts["import_growth_ratio"] > 2
    # the same figure straight from the clean facts: they add up
    trade = pd.read_parquet(catalog.dataset(2018, "trade_facts"))
    assert trade.loc[trade["reporter_city"] == "NGB", "value_cny"].sum() == pytest.approx(facts["trade_cny"])


def test_trade_facts_hold_only_members_of_the_year_in_cny(sample_edition):
    catalog, _ = sample_edition
    trade = pd.read_parquet(catalog.dataset(2018, "trade_facts"))
    assert set(trade["year"]) == {2018}
    assert "GRC" not in set(trade["partner"])  # Greece joined in 2019
    assert len(set(trade["partner"])) == 16
    assert set(trade["currency"]) >= {"USD", "CNY", "EUR"}
    cny = trade[trade["currency"] == "CNY"]
    assert (cny["value_cny"] == cny["value"]).all()


def test_scores_cover_every_node_with_ranks(sample_edition):
    catalog, _ = sample_edition
    scores = pd.read_parquet(catalog.dataset(2018, "scores"))
    assert scores.groupby("node").size().eq(30).all()
    assert scores["node"].nunique() == 1 + 5 + 23
    assert scores.loc[scores["node"] == "index", "rank"].min() == 1
    assert scores["score"].dropna().between(0, 100).all()
    indicators = pd.read_parquet(catalog.dataset(2018, "indicator_values"))
    assert set(indicators["source"]) >= {"derived:trade_records"}


def test_duckdb_reads_every_output_and_the_manifest_describes_the_run(sample_edition):
    catalog, _ = sample_edition
    for name in EDITION_DATASETS:
        path = catalog.dataset(2018, name)
        rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0]
        assert rows == pq.read_metadata(path).num_rows
        assert rows > 0 or name == "quarantine"  # the sample has no bad rows
    ranked = duckdb.sql(
        f"SELECT city_code, edition FROM read_parquet('{catalog.warehouse}/edition=*/scores.parquet') "
        "WHERE node = 'index' AND rank = 1 AND edition = 2018"
    ).fetchall()
    assert ranked == [("NGB", 2018)]
    manifest = json.loads(catalog.manifest(2018).read_text())
    assert manifest["edition"] == 2018 and manifest["flow_run_id"]
    assert manifest["method"] == {"name": "coopindex-default", "version": "1.0.0"}
    assert "raw/trade/2016/2016-01.csv" in manifest["inputs"] and "config/method.yaml" in manifest["inputs"]
    assert "raw/trade/2015/2015-01.csv" not in manifest["inputs"]
    assert manifest["validation"]["success"] and manifest["validation"]["failed"] == 0
    assert manifest["row_counts"]["inputs"]["trade_records"] > 100_000
    # every step before the manifest, timed (the manifest is assembled from these timings)
    steps = [s.name for s in EDITION.steps]
    assert list(manifest["timings_s"]) == steps[: steps.index("assemble-manifest")]
    assert all(seconds >= 0 for seconds in manifest["timings_s"].values())


def test_greek_trade_before_2019_is_quarantined_not_scored(two_bad_rows):
    catalog, _ = two_bad_rows
    quarantined = pd.read_parquet(catalog.dataset(2018, "quarantine"))
    [row] = [r for _, r in quarantined.iterrows() if r["file"] == GREEK[0]]
    assert (row["file"], row["line"], row["column"], row["value"]) == (*GREEK, "GRC")
    assert "GRC" not in set(pd.read_parquet(catalog.dataset(2018, "trade_facts"))["partner"])


def test_a_broken_reference_file_stops_the_run_and_changes_nothing(published_2018, raw_copy, tmp_path):
    warehouse = copy_warehouse(published_2018[0], tmp_path / "warehouse")  # 2018 published from raw/
    before = tree_digest(warehouse)
    path = raw_copy / "reference" / "fx_rates.csv"
    path.write_text(path.read_text().replace("2018,USD,", "2018,usd,"))

    with pytest.raises(DataValidationError) as error:
        run_edition(Catalog.at(raw_copy, warehouse), 2018)
    assert "raw/reference/fx_rates.csv, line" in str(error.value) and "column 'currency'" in str(error.value)
    assert tree_digest(warehouse) == before
    assert index_scores(Catalog(warehouse=warehouse)).index[0] == "NGB"


def test_other_editions_follow_membership_and_replace_only_themselves(sample_edition, tmp_path):
    catalog, _ = sample_edition
    before_2018 = tree_digest(catalog.edition_dir(2018))
    run_data_steps(catalog, 2019)
    run_data_steps(catalog, 2013)
    assert tree_digest(catalog.edition_dir(2018)) == before_2018

    partners_2019 = set(pd.read_parquet(catalog.dataset(2019, "trade_facts"))["partner"])
    assert "GRC" in partners_2019 and len(partners_2019) == 17
    # 2013 is the first year on file: no growth and no import base, the rest still scores
    facts_2013 = pd.read_parquet(catalog.dataset(2013, "city_trade"))
    assert facts_2013["trade_growth_pct"].isna().all() and facts_2013["import_growth_ratio"].isna().all()
    scores_2013 = pd.read_parquet(catalog.dataset(2013, "scores"))
    assert scores_2013.loc[scores_2013["node"] == "trade_growth", "score"].isna().all()
    assert scores_2013.loc[scores_2013["node"] == "index", "score"].notna().all()
    glob = f"{catalog.warehouse}/edition=*/scores.parquet"
    editions = duckdb.sql(f"SELECT DISTINCT edition FROM read_parquet('{glob}') ORDER BY 1").fetchall()
    assert editions == [(2013,), (2018,), (2019,)]


def test_analysis_beside_the_scores(sample_edition):
    catalog, _ = sample_edition
    scores = pd.read_parquet(catalog.dataset(2018, "scores"))
    index = scores[scores["node"] == "index"].set_index("city_code")
    parts = pd.read_parquet(catalog.dataset(2018, "contributions"))
    sums = parts.groupby("city_code")["contribution"].sum()
    pd.testing.assert_series_equal(sums.sort_index(), index["score"].sort_index(), check_names=False)
    intervals = pd.read_parquet(catalog.dataset(2018, "uncertainty")).set_index("city_code")
    assert (intervals["nominal_rank"] == index["rank"].reindex(intervals.index)).all()
    assert (
        (intervals["q05"] <= intervals["median_rank"]) & (intervals["median_rank"] <= intervals["q95"])
    ).all()
    sobol = pd.read_parquet(catalog.dataset(2018, "sensitivity")).set_index("choice")
    assert list(sobol.index) == ["weights", "normalisation", "aggregation", "imputation"]
    assert sobol["ST"].between(-0.1, 1.5).all()
    # no city misses a value in 2018, so imputing cannot change a rank
    assert sobol.loc["imputation", "ST"] == 0
    strengths = pd.read_parquet(catalog.dataset(2018, "strengths"))
    assert set(strengths["kind"]) == {"strength", "weakness"} and strengths["city_code"].nunique() == 30


def _break_values(path, lines_to_break):
    lines = path.read_text().splitlines()
    for number in lines_to_break:  # 1-based file line numbers
        fields = lines[number - 1].split(",")
        fields[5] = "-" + fields[5]
        lines[number - 1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


# The bad rows planted in `two_bad_rows`, as the quarantine names them: (file, line, column).
GREEK = ("raw/trade/2018/2018-05.csv", 8, "partner")  # Greece joined in 2019
NEGATIVE = ("raw/trade/2018/2018-03.csv", 40, "value")


@pytest.fixture(scope="module")
def two_bad_rows(shipped_store, tmp_path_factory) -> tuple[Catalog, dict]:
    """Edition 2018 scored once (in memory) from a copy of raw/ with one bad row in each of two
    files, few enough for each file to be quarantined, not blocked: trade with Greece in May
    2018 (a member only from 2019) and a negative value in March."""
    base = tmp_path_factory.mktemp("two-bad-rows")
    raw = base / "raw"
    shutil.copytree(PROJECT_ROOT / "raw", raw)
    path = raw / "trade" / "2018" / "2018-05.csv"
    lines = path.read_text().splitlines()
    fields = lines[7].split(",")
    fields[2] = "GRC"
    lines[7] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    _break_values(raw / "trade" / "2018" / "2018-03.csv", [40])

    catalog = Catalog.at(raw, seeded_warehouse(shipped_store, base / "warehouse"))
    return catalog, run_data_steps(catalog, 2018)["manifest"]["summary"]


def test_a_few_bad_rows_are_quarantined_and_the_rest_published(two_bad_rows):
    catalog, summary = two_bad_rows
    quarantined = pd.read_parquet(catalog.dataset(2018, "quarantine"))
    assert sorted(quarantined[["file", "line", "column"]].values.tolist()) == [list(NEGATIVE), list(GREEK)]
    assert quarantined.loc[quarantined["file"] == NEGATIVE[0], "value"].str.startswith("-").all()
    facts = pd.read_parquet(catalog.dataset(2018, "trade_facts"))
    march = facts[facts["source_file"] == "raw/trade/2018/2018-03.csv"]
    assert 40 not in set(march["source_line"]) and len(march) == 16777 - 1
    manifest = json.loads(catalog.manifest(2018).read_text())
    assert manifest["validation"]["quarantined_rows"] == 2
    reports = manifest["validation"]["reports"]
    warehouse = catalog.warehouse
    assert (warehouse / reports["quarantine"]).exists() and (warehouse / reports["data_docs"]).exists()
    assert summary["top"] == "NGB"


def test_too_many_bad_rows_in_a_file_block_the_edition(raw_copy, tmp_path, warehouse):
    _break_values(raw_copy / "trade" / "2018" / "2018-03.csv", range(40, 60))  # 20 of 16,777 rows: 0.12 %
    before = tree_digest(warehouse)  # the trade store, from the shipped sample
    data = start(Catalog.at(raw_copy, warehouse), 2018)
    with pytest.raises(DataValidationError) as error:
        EDITION.run(data)
    assert "raw/trade/2018/2018-03.csv, line 40, column 'value'" in str(error.value)
    assert "above the 0.1 % allowed" in str(error.value)
    assert tree_digest(warehouse) == before  # no edition, and the store as it was
    # the run's report of the refused file, written before the run stopped (the flow names it
    # in the error, for `coopindex run` to print)
    assert "stages" not in data and set(data["trade_reports"]) >= {"data_docs", "quarantine"}
    assert (warehouse / data["trade_reports"]["data_docs"]).exists()
    quarantined = pd.read_parquet(warehouse / data["trade_reports"]["quarantine"])
    assert sorted(quarantined["line"]) == list(range(40, 60))


def test_a_second_run_of_the_same_edition_waits_or_fails_clearly(sample_edition):
    """The flow's lock, checked by calling the flow's function (`.fn`): no Prefect run needed."""
    from filelock import FileLock

    from flows.edition import EditionBusyError, score_edition

    catalog, _ = sample_edition
    before = tree_digest(catalog.edition_dir(2018))
    lock = catalog.warehouse / ".locks" / "edition=2018.lock"
    with FileLock(lock), pytest.raises(EditionBusyError, match="edition 2018 is being scored by another run"):
        score_edition.fn(2018, warehouse_dir=str(catalog.warehouse), lock_timeout_s=0.5)
    assert tree_digest(catalog.edition_dir(2018)) == before


def test_runs_leave_a_ranking_and_a_summary_artifact(published_2018):
    """Read from Prefect by the worker whose server recorded the run (`published_artifacts`)."""
    artifacts = published_artifacts(published_2018[0])
    ranking, summary = artifacts["edition-2018-ranking"], artifacts["edition-2018-summary"]
    assert "Ningbo" in ranking and "69.3453" in ranking
    assert "Edition 2018 published" in summary and "rows quarantined" in summary
