"""Real Great Expectations runs (no mocks) of the repo's suites on small in-memory frames."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from tasks.quality.results import RESULT_COLUMNS, results_table
from tasks.quality.suites import load_suite
from tasks.quality.validation import DataValidationError, Failure, SuiteOutcome, raise_for_failures, validate
from tasks.warehouse.catalog import Catalog

SUITES = Catalog().expectations

TRADE_FILE = "raw/trade/2018/2018-03.csv"
DATASETS = (
    "cities",
    "ceec_members",
    "fx_rates",
    "national_trade",
    "trade_records",
    "indicator_values",
    "framework",
)
PARAMETERS = {
    "known_cities": ["BJS", "SHA", "NKG"],
    "member_keys": ["2018:POL", "2018:CZE", "2019:POL"],
    "fx_keys": ["2018:USD", "2018:EUR"],
    "known_indicators": ["fdi", "students"],
}


def located(rows: list[dict], file: str) -> pd.DataFrame:
    """Rows as a loader would return them: header on line 1, data from line 2."""
    df = pd.DataFrame(rows)
    df["source_file"] = file
    df["source_line"] = pd.Series(range(2, len(df) + 2), dtype="int64")
    return df


def trade_frame(rows: list[dict] | None = None) -> pd.DataFrame:
    base = dict(reporter_city="BJS", partner="POL", flow="export", value=10.0, currency="USD")
    rows = rows or [
        dict(base, period="2018-03", hs2="84"),
        dict(base, period="2018-03", hs2="85", value=0.0),
        dict(base, period="2018-03", hs2="85", flow="import", currency="EUR"),
        dict(base, period="2018-03", hs2="01", partner="CZE", reporter_city="SHA"),
    ]
    df = located(rows, TRADE_FILE)
    df["year"] = df["period"].str[:4].astype("int64")
    df["member_key"] = df["year"].astype(str) + ":" + df["partner"]
    df["fx_key"] = df["year"].astype(str) + ":" + df["currency"]
    df["value_cny"] = df["value"] * df["currency"].map({"USD": 6.617, "EUR": 7.8073})
    return df


def clean_frame(dataset: str) -> pd.DataFrame:
    if dataset == "trade_records":
        return trade_frame()
    if dataset == "cities":
        rows = [
            dict(city_code="BJS", name_en="Beijing", name_zh="北京", province="Beijing"),
            dict(city_code="SHA", name_en="Shanghai", name_zh="上海", province="Shanghai"),
        ]
        return located(rows, "raw/reference/cities.csv")
    if dataset == "ceec_members":
        df = located(
            [dict(iso3="POL", name="Poland"), dict(iso3="GRC", name="Greece")],
            "raw/reference/ceec_members.csv",
        )
        df["joined"] = pd.to_datetime(["2012-04-26", "2019-04-12"])
        df["left"] = pd.to_datetime([None, None])
        return df
    if dataset == "fx_rates":
        rows = [
            dict(year=2018, currency="USD", cny_per_unit=6.6),
            dict(year=2018, currency="EUR", cny_per_unit=7.8),
            dict(year=2019, currency="USD", cny_per_unit=6.9),
        ]
        return located(rows, "raw/reference/fx_rates.csv")
    if dataset == "national_trade":
        rows = [
            dict(year=2018, flow="import", value_cny=1.0e9),
            dict(year=2018, flow="export", value_cny=2.0e9),
        ]
        return located(rows, "raw/reference/national_trade.csv")
    if dataset == "indicator_values":
        rows = [
            dict(year=2018, city_code="BJS", indicator="fdi", value=1.5, source="MOFCOM"),
            dict(year=2018, city_code="SHA", indicator="fdi", value=2.5, source="MOFCOM"),
            dict(year=2018, city_code="BJS", indicator="students", value=300.0, source="MOE"),
        ]
        return located(rows, "raw/indicators/2018.csv")
    if dataset == "framework":
        columns = ["code", "name", "parent", "level", "weight", "direction", "unit", "origin"]
        table = [
            ("CCI", "Index", "", 3, 1.0, 1, "", ""),
            ("ECO", "Economy", "CCI", 2, 0.5, 1, "", None),
            ("fdi", "FDI", "ECO", 1, 0.5, 1, "CNY", "indicators"),
            ("trade", "Trade", "ECO", 1, 0.5, -1, "CNY", "trade"),
        ]
        rows = [dict(zip(columns, row, strict=True)) for row in table]
        return located(rows, "config/framework.csv")
    raise AssertionError(dataset)


def only_failure(outcome: SuiteOutcome, expectation: str, column: str | None) -> Failure:
    matching = [f for f in outcome.failures if f.expectation == expectation and f.column == column]
    assert len(matching) == 1, [f.describe() for f in outcome.failures]
    return matching[0]


@pytest.mark.parametrize("dataset", DATASETS)
def test_clean_frame_passes(dataset: str) -> None:
    df = clean_frame(dataset)
    outcome = validate(df, dataset, PARAMETERS, suites=SUITES)
    assert outcome.success, [f.describe() for f in outcome.failures]
    assert outcome.failures == []
    assert outcome.rows == len(df)
    assert len(outcome.results) == len(load_suite(dataset, SUITES)["expectations"])
    assert all(r["success"] for r in outcome.results)


def test_every_suite_is_well_formed() -> None:
    names = sorted(p.stem for p in SUITES.glob("*.json"))
    assert set(DATASETS) <= set(names)  # plus the cross-dataset suites on derived frames
    for dataset in DATASETS:
        kinds = [e["type"] for e in load_suite(dataset, SUITES)["expectations"]]
        assert "expect_table_columns_to_match_set" in kinds


def test_negative_trade_value_names_file_line_and_column() -> None:
    df = trade_frame()
    df.loc[2, "value"] = -5.0  # third data row: line 4
    outcome = validate(df, "trade_records", PARAMETERS, suites=SUITES)
    assert not outcome.success
    failure = only_failure(outcome, "expect_column_values_to_be_between", "value")
    assert failure.severity == "critical"
    assert failure.unexpected_count == 1
    assert failure.examples == [(TRADE_FILE, 4, -5.0)]
    assert failure.expected == "a value >= 0"
    assert failure.describe() == (
        f"{TRADE_FILE}, line 4, column 'value': expected a value >= 0, found -5.0 (1 row in all)"
    )
    assert len(outcome.failures) == 1


def test_partner_not_a_member_that_year_fails_with_that_row() -> None:
    df = trade_frame()
    df.loc[1, ["partner", "member_key"]] = ["GRC", "2018:GRC"]  # line 3
    outcome = validate(df, "trade_records", PARAMETERS, suites=SUITES)
    assert not outcome.success
    failure = only_failure(outcome, "expect_column_values_to_be_in_set", "partner")
    assert failure.examples == [(TRADE_FILE, 3, "2018:GRC")]
    assert "member" in failure.expected
    assert failure.describe().startswith(f"{TRADE_FILE}, line 3, column 'partner': expected")
    assert "found '2018:GRC'" in failure.describe()


def test_duplicate_key_lists_both_lines() -> None:
    df = trade_frame()
    df.loc[1, "hs2"] = "84"  # line 3 now repeats line 2's key
    outcome = validate(df, "trade_records", PARAMETERS, suites=SUITES)
    failure = only_failure(
        outcome, "expect_compound_columns_to_be_unique", "period, reporter_city, partner, flow, hs2"
    )
    assert failure.unexpected_count == 2
    key = ("2018-03", "BJS", "POL", "export", "84")
    assert failure.examples == [(TRADE_FILE, 2, key), (TRADE_FILE, 3, key)]
    text = failure.describe()
    assert f"{TRADE_FILE}, line 2, columns (period, reporter_city, partner, flow, hs2)" in text
    assert "(2 rows in all; also line 3)" in text


@pytest.mark.parametrize(
    ("column", "bad", "expectation"),
    [
        ("period", "2018-13", "expect_column_values_to_match_regex"),
        ("hs2", "98", "expect_column_values_to_be_in_set"),
        ("flow", "transit", "expect_column_values_to_be_in_set"),
        ("currency", "usd", "expect_column_values_to_match_regex"),
        ("value", None, "expect_column_values_to_not_be_null"),
    ],
)
def test_one_bad_cell_fails_one_check(column: str, bad: object, expectation: str) -> None:
    df = trade_frame()
    df.loc[0, column] = bad  # derived keys left alone: only the corrupted column should fail
    outcome = validate(df, "trade_records", PARAMETERS, suites=SUITES)
    assert [(f.expectation, f.column) for f in outcome.failures] == [(expectation, column)]
    assert outcome.failures[0].examples[0][:2] == (TRADE_FILE, 2)


def test_missing_fx_rate_fails() -> None:
    df = trade_frame()
    df.loc[3, ["currency", "fx_key"]] = ["HUF", "2018:HUF"]  # line 5
    outcome = validate(df, "trade_records", PARAMETERS, suites=SUITES)
    failure = only_failure(outcome, "expect_column_values_to_be_in_set", "currency")
    assert failure.examples == [(TRADE_FILE, 5, "2018:HUF")]
    assert not outcome.success


@pytest.mark.parametrize(
    ("dataset", "column"), [("trade_records", "reporter_city"), ("indicator_values", "city_code")]
)
def test_unknown_city_fails(dataset: str, column: str) -> None:
    df = clean_frame(dataset)
    df.loc[0, column] = "XYZ"
    outcome = validate(df, dataset, PARAMETERS, suites=SUITES)
    assert not outcome.success
    failure = only_failure(outcome, "expect_column_values_to_be_in_set", column)
    assert failure.examples == [(df.loc[0, "source_file"], 2, "XYZ")]
    assert "known_cities" in failure.expected


def test_examples_come_from_source_columns_sorted_and_capped() -> None:
    rows = [
        dict(
            period="2018-03",
            reporter_city="BJS",
            partner="POL",
            flow="export",
            hs2=f"{i:02d}",
            value=-float(i),
            currency="USD",
        )
        for i in range(1, 9)
    ]
    df = trade_frame(rows)
    # Loader order and index must not matter: reverse the rows, give them an odd index.
    df = df.iloc[::-1].set_axis(range(100, 108))
    failure = only_failure(
        validate(df, "trade_records", PARAMETERS, suites=SUITES),
        "expect_column_values_to_be_between",
        "value",
    )
    assert failure.unexpected_count == 8
    assert failure.examples == [(TRADE_FILE, line, -float(line - 1)) for line in range(2, 7)]
    assert "(8 rows in all; also lines 3, 4, 5, 6)" in failure.describe()


def test_warning_failure_does_not_fail_the_outcome() -> None:
    df = clean_frame("cities")
    df.loc[1, "name_zh"] = None
    outcome = validate(df, "cities", PARAMETERS, suites=SUITES)
    assert outcome.success
    failure = only_failure(outcome, "expect_column_values_to_not_be_null", "name_zh")
    assert failure.severity == "warning"
    assert failure.examples == [("raw/reference/cities.csv", 3, None)]
    assert "found an empty value" in failure.describe()
    raise_for_failures([outcome])  # warnings only: no exception


def test_empty_string_counts_as_missing() -> None:
    df = clean_frame("cities")
    df.loc[0, "name_en"] = ""  # the loaders keep an empty CSV cell as ""
    outcome = validate(df, "cities", suites=SUITES)
    assert not outcome.success
    failure = only_failure(outcome, "expect_column_values_to_not_be_null", "name_en")
    assert failure.examples == [("raw/reference/cities.csv", 2, None)]
    assert df.loc[0, "name_en"] == ""  # the caller's frame is not modified


def test_suite_from_another_directory_and_severity_check(tmp_path: Path) -> None:
    suite = {
        "name": "toy",
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "x", "min_value": 0, "strict_min": True},
                "meta": {"severity": "warning"},
            }
        ],
    }
    (tmp_path / "toy.json").write_text(json.dumps(suite))
    df = located([{"x": 1.0}, {"x": 0.0}], "toy.csv")
    outcome = validate(df, "toy", suites=tmp_path)
    assert outcome.success
    assert [(f.severity, f.examples, f.expected) for f in outcome.failures] == [
        ("warning", [("toy.csv", 3, 0.0)], "a value > 0")
    ]

    suite["expectations"][0]["meta"]["severity"] = "fatal"
    (tmp_path / "toy.json").write_text(json.dumps(suite))
    with pytest.raises(ValueError, match="severity 'fatal'"):
        validate(df, "toy", suites=tmp_path)


def test_missing_parameter_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="member_keys"):
        validate(trade_frame(), "trade_records", {"known_cities": ["BJS"], "fx_keys": []}, suites=SUITES)


def test_framework_origin_only_checked_for_indicators() -> None:
    df = clean_frame("framework")
    df.loc[3, "origin"] = "survey"  # level-1 row, line 5
    df.loc[1, "weight"] = 0.0  # strict > 0, line 3
    outcome = validate(df, "framework", suites=SUITES)
    origin = only_failure(outcome, "expect_column_values_to_be_in_set", "origin")
    assert origin.examples == [("config/framework.csv", 5, "survey")]
    assert origin.expected == "one of {indicators, trade} (where level == 1)"
    weight = only_failure(outcome, "expect_column_values_to_be_between", "weight")
    assert weight.examples == [("config/framework.csv", 3, 0.0)]
    assert len(outcome.failures) == 2


def test_missing_column_and_bad_dates_are_reported() -> None:
    df = clean_frame("ceec_members")
    df.loc[1, "left"] = pd.Timestamp("2018-01-01")  # left Greece before it joined
    outcome = validate(df, "ceec_members", suites=SUITES)
    pair = only_failure(outcome, "expect_column_pair_values_a_to_be_greater_than_b", "left, joined")
    assert pair.examples == [("raw/reference/ceec_members.csv", 3, ("2018-01-01", "2019-04-12"))]

    outcome = validate(clean_frame("cities").drop(columns=["province"]), "cities", suites=SUITES)
    columns = only_failure(outcome, "expect_table_columns_to_match_set", None)
    assert columns.describe().startswith("cities: expected columns {")
    assert columns.describe().endswith("found missing column(s) province")
    # Checks on the missing column cannot run; they fail too, with GX's error as the finding.
    not_null = only_failure(outcome, "expect_column_values_to_not_be_null", "province")
    assert "province" in not_null.describe()


def test_raise_for_failures_collects_every_critical_failure() -> None:
    bad_trade = trade_frame()
    bad_trade.loc[0, "value"] = -1.0
    bad_fx = clean_frame("fx_rates")
    bad_fx.loc[0, "cny_per_unit"] = 0.0
    outcomes = [
        validate(bad_trade, "trade_records", PARAMETERS, suites=SUITES),
        validate(bad_fx, "fx_rates", suites=SUITES),
        validate(clean_frame("cities"), "cities", suites=SUITES),
    ]
    with pytest.raises(DataValidationError) as caught:
        raise_for_failures(outcomes)
    error = caught.value
    assert [f.dataset for f in error.failures] == ["trade_records", "fx_rates"]
    text = str(error)
    assert text.splitlines()[0] == "2 critical data checks failed:"
    assert f"- [trade_records] {TRADE_FILE}, line 2, column 'value'" in text
    assert "- [fx_rates] raw/reference/fx_rates.csv, line 2, column 'cny_per_unit'" in text
    restored = pickle.loads(pickle.dumps(error))
    assert restored.failures == error.failures and str(restored) == text


def test_results_table_has_one_row_per_expectation(tmp_path: Path) -> None:
    bad = trade_frame()
    bad.loc[0, "value"] = -1.0
    outcomes = [
        validate(bad, "trade_records", PARAMETERS, suites=SUITES),
        validate(clean_frame("cities"), "cities", suites=SUITES),
    ]
    table = results_table(outcomes)
    expected_rows = sum(len(load_suite(d, SUITES)["expectations"]) for d in ("trade_records", "cities"))
    assert len(table) == expected_rows
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert table["success"].dtype == bool and table["unexpected_count"].dtype == "int64"
    failed = table[~table["success"]]
    assert failed[["dataset", "column", "unexpected_count"]].values.tolist() == [
        ["trade_records", "value", 1]
    ]
    assert failed["examples"].iloc[0] == f"{TRADE_FILE}:2 -1.0"
    table.to_parquet(tmp_path / "results.parquet")
    assert len(pd.read_parquet(tmp_path / "results.parquet")) == expected_rows
    assert list(results_table([]).columns) == list(RESULT_COLUMNS)
