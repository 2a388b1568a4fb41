"""validate_distinct gives validate's outcome: real GX runs (no mocks) on the shipped sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.quality import load
from tasks.quality.distinct import MAX_SHARE, Distinct, validate_distinct
from tasks.quality.validation import SuiteOutcome, validate
from tasks.trade.fx import fx_keys
from tasks.trade.membership import member_keys
from tasks.warehouse.catalog import Catalog
from tests.test_validation import DATASETS, PARAMETERS, SUITES, clean_frame

KEY = ["period", "reporter_city", "partner", "flow", "hs2"]


def assert_same(fast: SuiteOutcome, slow: SuiteOutcome) -> None:
    """Everything `validate` reports, GX's own result counts included."""
    assert fast.results == slow.results
    assert fast.failures == slow.failures
    pd.testing.assert_frame_equal(fast.failed_rows, slow.failed_rows)
    assert (fast.success, fast.rows) == (slow.success, slow.rows)
    assert gx_results(fast) == gx_results(slow)


def gx_results(outcome: SuiteOutcome) -> dict[int, tuple[bool, dict]]:
    results = outcome.gx_result.results
    return {r.expectation_config.meta["_position"]: (r.success, r.result) for r in results}


def as_category(df: pd.DataFrame) -> pd.DataFrame:
    """The text columns as pandas ``category``, as the streaming reader gives them."""
    text = [c for c in df.columns if pd.api.types.is_string_dtype(df[c])]
    return df.astype(dict.fromkeys(text, "category"))


def with_keys(records: pd.DataFrame) -> pd.DataFrame:
    """The derived key columns, as the trade ingest adds them (`tasks.trade.file`)."""
    records = records.copy()
    year = pd.to_numeric(records["period"].str[:4], errors="coerce").fillna(-1).astype("int64")
    records["year"] = year
    records["member_key"] = year.astype("str") + ":" + records["partner"]
    records["fx_key"] = year.astype("str") + ":" + records["currency"]
    fx = load.read_csv(Catalog().fx_rates, load.FX_RATES)
    rates = dict(zip(fx["year"].astype("str") + ":" + fx["currency"], fx["cny_per_unit"], strict=True))
    records["value_cny"] = records["value"] * records["fx_key"].map(rates).astype("float64")
    return records


@pytest.fixture(scope="module")
def sample() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Three months of shipped trade records (~50k rows), the indicators, the parameters."""
    catalog = Catalog()
    files = catalog.trade_files(2018)[:3] + catalog.indicator_files()
    label = {p: catalog.relative(p) for p in files}
    trade = with_keys(load.read_many(files[:3], load.TRADE_RECORDS, label))
    indicators = load.read_many(files[3:], load.INDICATOR_VALUES, label)
    cities = load.read_csv(catalog.cities, load.CITIES)
    parameters = {
        "known_cities": sorted(cities["city_code"]),
        "member_keys": member_keys(load.read_csv(catalog.ceec_members, load.CEEC_MEMBERS), [2018]),
        "fx_keys": fx_keys(load.read_csv(catalog.fx_rates, load.FX_RATES)),
        "known_indicators": sorted(indicators["indicator"].unique()),
    }
    return trade, indicators, parameters


# Rows made bad in `bad_trade`, and the checks they fail.
BAD_ROWS = [10, 20, 30, 40, 41, 43, 50, 60, 70, 80, 81, 90, 91, 100, 110, 500, 9000]
FAILING = {
    ("column_values_to_be_in_set", "reporter_city"),
    ("column_values_to_be_in_set", "partner"),
    ("column_values_to_match_regex", "partner"),
    ("column_values_to_be_in_set", "hs2"),
    ("column_values_to_match_regex", "hs2"),
    ("column_values_to_be_between", "value"),
    ("column_values_to_not_be_null", "value"),
    ("column_values_to_match_regex", "period"),
    ("column_values_to_not_be_null", "flow"),
    ("column_values_to_not_be_null", "currency"),
    ("compound_columns_to_be_unique", ", ".join(KEY)),
    ("column_values_to_be_in_set", "currency"),
}


def bad_trade(trade: pd.DataFrame) -> pd.DataFrame:
    """Every kind of bad row the trade suite knows (some kinds on several rows), keys re-derived."""
    df = trade.copy()
    df.loc[[10, 500], "reporter_city"] = "XYZ"  # unknown city
    df.loc[20, "partner"] = "GRC"  # not a member in 2018
    df.loc[30, "partner"] = "pol"  # bad code (and so not a member either)
    df.loc[[40, 41], "hs2"] = "98"  # no such HS chapter
    df.loc[43, "hs2"] = "8"
    df.loc[[50, 9000], "value"] = -1.0  # negative
    df.loc[60, "value"] = np.nan
    df.loc[70, "period"] = "2018-13"  # bad period
    df.loc[80, "flow"] = ""  # empty cells: missing
    df.loc[81, "currency"] = ""
    df.loc[90, KEY] = df.loc[91, KEY].to_numpy()  # duplicate key
    df.loc[100, "currency"] = "HUF"  # no FX rate that year
    df.loc[110, "value"] = 1e300  # above the ceiling in CNY
    return with_keys(df)


@pytest.mark.parametrize("category", [False, True], ids=["str", "category"])
def test_trade_records_with_every_kind_of_bad_row(sample, category: bool) -> None:
    trade, _, parameters = sample
    df = bad_trade(trade)
    df = as_category(df) if category else df
    fast = validate_distinct(df, "trade_records", parameters, suites=SUITES)
    assert_same(fast, validate(df, "trade_records", parameters, suites=SUITES))
    assert not fast.success
    assert {(f.expectation.removeprefix("expect_"), f.column) for f in fast.failures} == FAILING
    assert sorted(set(fast.failed_rows["position"])) == BAD_ROWS


@pytest.mark.parametrize("category", [False, True], ids=["str", "category"])
@pytest.mark.parametrize("max_share", [MAX_SHARE, 1.0])
def test_indicator_values_with_bad_rows(sample, category: bool, max_share: float) -> None:
    _, indicators, parameters = sample
    df = indicators.copy()
    df.loc[[3, 700], "city_code"] = "XYZ"
    df.loc[5, "city_code"] = ""
    df.loc[8, "indicator"] = "no_such_indicator"
    df.loc[13, "value"] = np.nan
    df.loc[21, "source"] = None  # a warning only
    df.loc[34, ["year", "city_code", "indicator"]] = df.loc[35, ["year", "city_code", "indicator"]].to_numpy()
    df = as_category(df) if category else df
    fast = validate_distinct(df, "indicator_values", parameters, max_share=max_share, suites=SUITES)
    assert_same(fast, validate(df, "indicator_values", parameters, suites=SUITES))
    assert {f.severity for f in fast.failures} == {"critical", "warning"}


@pytest.mark.parametrize("category", [False, True], ids=["str", "category"])
def test_clean_sample_passes(sample, category: bool) -> None:
    trade, indicators, parameters = sample
    text = [*KEY, "currency", "member_key", "fx_key", "source_file"]
    assert all(Distinct.of(trade[c], MAX_SHARE) is not None for c in text)  # all on distinct values
    for dataset, df in (("trade_records", trade), ("indicator_values", indicators)):
        df = as_category(df) if category else df
        outcome = validate_distinct(df, dataset, parameters, suites=SUITES)
        assert outcome.success and outcome.failures == [] and outcome.failed_rows.empty
        assert outcome.gx_result.success and len(outcome.gx_result.results) == len(outcome.results)
        assert_same(outcome, validate(df, dataset, parameters, suites=SUITES))


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_suite_on_small_frames(dataset: str) -> None:
    """Every value-local check on distinct values (max_share=1), clean and with a cell blanked."""
    df = clean_frame(dataset)
    assert_same(
        validate_distinct(df, dataset, PARAMETERS, max_share=1.0, suites=SUITES),
        validate(df, dataset, PARAMETERS, suites=SUITES),
    )
    text = [c for c in df.columns if pd.api.types.is_string_dtype(df[c]) and c != "source_file"]
    df.loc[0, text[0]] = ""
    df = pd.concat([df, df.iloc[[1]]], ignore_index=True)  # a repeated row as well
    assert_same(
        validate_distinct(df, dataset, PARAMETERS, max_share=1.0, suites=SUITES),
        validate(df, dataset, PARAMETERS, suites=SUITES),
    )


def test_missing_column_and_empty_frame() -> None:
    df = clean_frame("cities").drop(columns=["province"])
    assert_same(
        validate_distinct(df, "cities", max_share=1.0, suites=SUITES), validate(df, "cities", suites=SUITES)
    )
    empty = clean_frame("trade_records").iloc[:0]
    outcome = validate_distinct(empty, "trade_records", PARAMETERS, suites=SUITES)
    assert_same(outcome, validate(empty, "trade_records", PARAMETERS, suites=SUITES))
    assert outcome.success and outcome.rows == 0


def test_a_check_gx_cannot_run_on_distinct_values_runs_on_rows(tmp_path: Path) -> None:
    """Text compared with a number: GX errors on the distinct values and reports on the rows."""
    suite = {
        "name": "toy",
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "code", "min_value": 0},
                "meta": {"severity": "critical"},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "code", "value_set": ["a"], "mostly": 0.5},
                "meta": {"severity": "warning"},
            },
        ],
    }
    (tmp_path / "toy.json").write_text(json.dumps(suite))
    df = pd.DataFrame({"code": ["a", "b", "a"], "source_file": "toy.csv", "source_line": [2, 3, 4]})
    fast = validate_distinct(df, "toy", max_share=1.0, suites=tmp_path)
    assert_same(fast, validate(df, "toy", suites=tmp_path))
    assert "an error" in fast.failures[0].describe()


def test_distinct_values_of_a_column() -> None:
    text = pd.Series(["b", "a", None, "b", "a", "a"], dtype="str")
    found = Distinct.of(text, max_share=1.0)
    assert found.values.tolist()[:2] == ["b", "a"] and found.values.isna().tolist() == [False, False, True]
    assert found.missing == 1 and found.values.dtype == text.dtype
    assert found.rows(np.array([1, 7])).tolist() == [0, 1, 3, 4, 5]  # "a", and padding: "b"
    category = text.astype(pd.CategoricalDtype(["z", "a", "b"]))  # "z" unused: not a value
    found = Distinct.of(category, max_share=1.0)
    assert found.values.tolist()[:2] == ["a", "b"] and found.values.dtype == category.dtype
    assert found.rows(np.array([2])).tolist() == [2]  # the missing value
    assert Distinct.of(text, max_share=0.1) is None  # 3 values in 6 rows
    assert Distinct.of(pd.Series([1.0, 1.0, 1.0]), max_share=1.0) is None  # not text


WORDS = {
    "period": ["2018-01", "2018-02", "2018-13", "", None],
    "reporter_city": ["BJS", "SHA", "XYZ", ""],
    "partner": ["POL", "CZE", "GRC", "pol"],
    "flow": ["import", "export", "transit", None],
    "hs2": ["01", "84", "98", "8"],
    "currency": ["USD", "EUR", "HUF", ""],
}


@st.composite
def trade_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Small frames of mostly good and some bad trade rows, keys derived as the loader does."""
    rows = draw(st.integers(1, 30))
    columns = {c: draw(st.lists(st.sampled_from(v), min_size=rows, max_size=rows)) for c, v in WORDS.items()}
    values = st.one_of(st.floats(-5, 1e6, allow_nan=False), st.just(np.nan))
    columns["value"] = draw(st.lists(values, min_size=rows, max_size=rows))
    df = pd.DataFrame(columns).astype(dict.fromkeys(WORDS, "str"))
    df["source_file"] = "raw/trade/2018/2018-01.csv"
    df["source_line"] = np.arange(2, rows + 2, dtype="int64")
    df = with_keys(df)
    return as_category(df) if draw(st.booleans()) else df


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=trade_frames())
def test_random_frames_fail_the_same_rows(df: pd.DataFrame) -> None:
    assert_same(
        validate_distinct(df, "trade_records", PARAMETERS, max_share=1.0, suites=SUITES),
        validate(df, "trade_records", PARAMETERS, suites=SUITES),
    )
