"""Row-level quarantine with real Great Expectations runs (no mocks) on constructed trade files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from tasks.quality.quarantine import QUARANTINE_COLUMNS, Triage, quarantine_table, raise_for_blocking, triage
from tasks.quality.validation import FAILED_ROW_COLUMNS, DataValidationError, validate
from tasks.warehouse.catalog import Catalog

FILE_A = "raw/trade/2018/2018-03.csv"
FILE_B = "raw/trade/2018/2018-04.csv"
ROWS_PER_FILE = 2000
MAX_SHARE = 0.001  # the method's default: 0.1 % of a file
CITIES = ["BJS", "SHA", "NKG", "TSN", "NGB", "CAN"]
PARAMETERS = {
    "known_cities": CITIES,
    "member_keys": ["2018:POL", "2018:CZE"],
    "fx_keys": ["2018:USD", "2018:EUR"],
    "known_indicators": ["fdi"],
}
KEY = ["period", "reporter_city", "partner", "flow", "hs2"]
SUITES = Catalog().expectations


def trade_file(file: str, period: str, rows: int = ROWS_PER_FILE) -> pd.DataFrame:
    """`rows` distinct, valid records as the loader returns them: header on line 1."""
    keys = itertools.product(CITIES, ["POL", "CZE"], ["export", "import"], [f"{h:02d}" for h in range(1, 98)])
    records = [
        dict(period=period, reporter_city=c, partner=p, flow=f, hs2=h, value=float(i), currency="USD")
        for i, (c, p, f, h) in zip(range(rows), keys, strict=False)
    ]
    df = pd.DataFrame(records)
    df["source_file"] = file
    df["source_line"] = pd.Series(range(2, rows + 2), dtype="int64")
    return df


def two_files() -> pd.DataFrame:
    """Two monthly files of 2,000 rows, with the derived columns and an index that is not 0..n-1."""
    df = pd.concat([trade_file(FILE_A, "2018-03"), trade_file(FILE_B, "2018-04")], ignore_index=True)
    df.index = df.index + 1000
    return derive(df)


def derive(df: pd.DataFrame) -> pd.DataFrame:
    df["year"] = df["period"].str[:4].astype("int64")
    df["member_key"] = df["year"].astype(str) + ":" + df["partner"]
    df["fx_key"] = df["year"].astype(str) + ":" + df["currency"]
    df["value_cny"] = df["value"] * 6.617  # every record is in USD (the plausibility ceiling reads it)
    return df


def at(df: pd.DataFrame, file: str, line: int) -> object:
    """The index label of a file's line."""
    match = df.index[(df["source_file"] == file) & (df["source_line"] == line)]
    assert len(match) == 1
    return match[0]


def run(df: pd.DataFrame, max_share: float = MAX_SHARE) -> Triage:
    before = df.copy()
    result = triage(df, validate(df, "trade_records", PARAMETERS, suites=SUITES), max_share)
    pd.testing.assert_frame_equal(df, before)  # the input frame is never modified
    return result


def test_one_bad_row_under_the_threshold_is_quarantined() -> None:
    df = two_files()
    bad = at(df, FILE_A, 101)
    df.loc[bad, "value"] = -5.0  # 1 of 2,000 rows: 0.05 % <= 0.1 %
    outcome = validate(df, "trade_records", PARAMETERS, suites=SUITES)
    assert not outcome.success  # the check failed; the quarantine decides what it means
    assert list(outcome.failed_rows.columns) == list(FAILED_ROW_COLUMNS)
    assert outcome.failed_rows[["position", "column", "value"]].values.tolist() == [[99, "value", -5.0]]
    assert [f.row_level for f in outcome.failures] == [True]

    result = triage(df, outcome, MAX_SHARE)
    assert result.blocking == [] and not result.blocked
    raise_for_blocking([result])  # nothing blocks: no exception
    assert result.quarantined.to_dict("records") == [
        {
            "dataset": "trade_records",
            "file": FILE_A,
            "line": 101,
            "column": "value",
            "value": "-5.0",
            "expectation": "expect_column_values_to_be_between",
            "expected": "a value >= 0",
            "severity": "critical",
        }
    ]
    assert result.removed == 1
    assert len(result.clean) == len(df) - 1
    pd.testing.assert_frame_equal(result.clean, df.drop(index=bad))  # same index labels and order
    pd.testing.assert_frame_equal(
        result.clean[result.clean["source_file"] == FILE_B], df[df["source_file"] == FILE_B]
    )


def test_clean_frame_passes_untouched() -> None:
    df = two_files()
    outcome = validate(df, "trade_records", PARAMETERS, suites=SUITES)
    assert outcome.success and outcome.failed_rows.empty
    assert list(outcome.failed_rows.columns) == list(FAILED_ROW_COLUMNS)
    result = triage(df, outcome, MAX_SHARE)
    assert result.clean is df
    assert result.quarantined.empty and list(result.quarantined.columns) == list(QUARANTINE_COLUMNS)
    assert result.blocking == [] and result.removed == 0


def test_exactly_the_threshold_is_still_quarantined() -> None:
    df = two_files()
    df.loc[[at(df, FILE_B, 10), at(df, FILE_B, 20)], "value"] = -1.0  # 2 of 2,000 = 0.1 %
    result = run(df)
    assert result.blocking == []
    assert result.quarantined[["file", "line"]].values.tolist() == [[FILE_B, 10], [FILE_B, 20]]
    assert len(result.clean) == len(df) - 2


def test_bad_rows_over_the_threshold_block_the_edition() -> None:
    df = two_files()
    df.loc[at(df, FILE_A, 7), "value"] = -5.0  # file A: 1 row, under the threshold
    for line in (30, 12, 45, 60):  # file B: 5 rows (0.25 %), over the 0.1 % allowed
        df.loc[at(df, FILE_B, line), "value"] = -float(line)
    df.loc[at(df, FILE_B, 90), "flow"] = "transit"
    result = run(df)

    assert result.blocked
    assert [(f.expectation, f.column, f.unexpected_count) for f in result.blocking] == [
        ("expect_column_values_to_be_in_set", "flow", 1),
        ("expect_column_values_to_be_between", "value", 4),
    ]
    # File A's row is still set aside; file B's are not (it blocks, nothing is published).
    assert result.quarantined[["file", "line", "column"]].values.tolist() == [[FILE_A, 7, "value"]]
    with pytest.raises(DataValidationError) as caught:
        raise_for_blocking([result])
    text = str(caught.value)
    assert text.splitlines()[0] == "2 critical data checks failed:"
    assert (
        f"- [trade_records] {FILE_B}, line 12, column 'value': expected a value >= 0, found -12.0"
        " (4 rows in this file; also lines 30, 45, 60); 5 of 2,000 rows (0.25 %) of the file failed"
        " row-level checks, above the 0.1 % allowed"
    ) in text
    assert f"- [trade_records] {FILE_B}, line 90, column 'flow': expected one of {{import, export}}" in text
    assert FILE_A not in text


def test_duplicate_key_quarantines_every_line_of_it() -> None:
    df = two_files()
    first, second = at(df, FILE_A, 40), at(df, FILE_A, 41)
    df.loc[second, KEY] = df.loc[first, KEY].to_numpy()  # line 41 repeats line 40's key
    df.loc[second, "value"] = -1.0  # and fails a second check: listed twice, removed once
    result = run(df)
    assert result.blocking == []
    table = result.quarantined
    assert table[["line", "column", "expectation"]].values.tolist() == [
        [40, ", ".join(KEY), "expect_compound_columns_to_be_unique"],
        [41, "value", "expect_column_values_to_be_between"],
        [41, ", ".join(KEY), "expect_compound_columns_to_be_unique"],
    ]
    key = table.loc[table["line"] == 40, "value"].iloc[0]
    assert key == ", ".join(df.loc[first, KEY])
    assert result.removed == 2
    pd.testing.assert_frame_equal(result.clean, df.drop(index=[first, second]))


def test_derived_key_reports_the_files_column_and_value() -> None:
    df = two_files()
    row = at(df, FILE_B, 5)
    df.loc[row, ["partner", "member_key"]] = ["GRC", "2018:GRC"]  # not a member in 2018
    result = run(df)
    assert result.quarantined[["file", "line", "column", "value"]].values.tolist() == [
        [FILE_B, 5, "partner", "GRC"]
    ]
    assert "member" in result.quarantined["expected"].iloc[0]


def test_warning_only_failure_quarantines_nothing() -> None:
    rows = [
        dict(year=2018, city_code=city, indicator="fdi", value=1.0, source="MOFCOM", source_line=i + 2)
        for i, city in enumerate(CITIES)
    ]
    df = pd.DataFrame(rows).assign(source_file="raw/indicators/2018.csv")
    df.loc[2, "source"] = ""  # 'source' not null is a warning; an empty cell counts as missing
    outcome = validate(df, "indicator_values", PARAMETERS, suites=SUITES)
    assert outcome.success
    assert outcome.failed_rows[["position", "severity"]].values.tolist() == [[2, "warning"]]
    result = triage(df, outcome, MAX_SHARE)
    assert result.clean is df and result.quarantined.empty and result.blocking == []


@pytest.mark.parametrize("breakage", ["missing column", "wrong dtype"])
def test_table_level_failure_always_blocks(breakage: str) -> None:
    df = two_files()
    if breakage == "missing column":
        df = df.drop(columns=["currency"])
        expected = ("expect_table_columns_to_match_set", None, "found missing column(s) currency")
    else:
        df["source_line"] = df["source_line"].astype("float64")
        expected = ("expect_column_values_to_be_of_type", "source_line", "found 'float64'")
    result = run(df, max_share=1.0)  # no threshold lets a table-level failure through
    assert result.blocked and result.quarantined.empty and result.clean is df
    assert all(not f.row_level for f in result.blocking)
    kind, column, found = expected
    failure = next(f for f in result.blocking if f.expectation == kind)
    assert failure.column == column
    with pytest.raises(DataValidationError, match="trade_records") as caught:
        raise_for_blocking([result])
    assert found in str(caught.value)


def test_zero_share_blocks_on_any_bad_row() -> None:
    df = two_files()
    df.loc[at(df, FILE_A, 2000), "period"] = "2018-13"
    df.loc[at(df, FILE_A, 2000), "year"] = 2018
    result = run(df, max_share=0.0)
    assert result.quarantined.empty and len(result.clean) == len(df)
    [failure] = result.blocking
    assert failure.describe() == (
        f"{FILE_A}, line 2000, column 'period': expected a value matching ^[0-9]{{4}}-(?:0[1-9]|1[0-2])$,"
        " found '2018-13' (1 row in this file); 1 of 2,000 rows (0.05 %) of the file failed"
        " row-level checks, above the 0 % allowed"
    )


def test_quarantine_table_is_parquet_ready(tmp_path: Path) -> None:
    df = two_files()
    df.loc[at(df, FILE_A, 3), "value"] = -2.5
    df.loc[at(df, FILE_B, 3), "hs2"] = "98"
    df.loc[at(df, FILE_B, 4), "reporter_city"] = None  # text, a number and a missing value
    table = quarantine_table(
        [run(df), triage(df.head(0), validate(df.head(0), "trade_records", PARAMETERS, suites=SUITES), 0.1)]
    )
    assert list(table.columns) == list(QUARANTINE_COLUMNS)
    assert table[["file", "line", "value"]].fillna({"value": "<missing>"}).values.tolist() == [
        [FILE_A, 3, "-2.5"],
        [FILE_B, 3, "98"],
        [FILE_B, 4, "<missing>"],
    ]
    assert table["line"].dtype == "int64" and table["value"].dtype == "str"
    table.to_parquet(tmp_path / "quarantine.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "quarantine.parquet"), table)
    empty = quarantine_table([])
    assert list(empty.columns) == list(QUARANTINE_COLUMNS) and empty["line"].dtype == "int64"
