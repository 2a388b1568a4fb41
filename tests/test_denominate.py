"""Denominate: golden against COINr's ASEM stage, plus the zero/missing-denominator and error rules.

Also home of the ASEM readers the other stage tests import (`asem_stage`, `asem_meta`, `asem_units`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from tasks.engine.denominate import denominate

ASEM = Path(__file__).parent / "data" / "coinr_asem"
ASEM_ID_COLUMNS = ["UnitName", "Year", "Group_GDP", "Group_GDPpc", "Group_Pop", "Group_EurAsia"]
DENOMINATOR_COLUMNS = ["Area", "Energy", "GDP", "Population"]

# The stage CSVs hold 10 significant digits (Raw is iData rounded so), hence a relative tolerance
# of 1e-9 where a value is recomputed; observed: max relative difference 4.2e-10 (max abs 1.1e-8).
STAGE_RTOL = 1e-9


@cache
def _read_stage(name: str) -> pd.DataFrame:
    table = pd.read_csv(ASEM / f"ASEM_COIN_{name}.csv").set_index("UnitCode")
    return table.drop(columns=ASEM_ID_COLUMNS).astype("float64")


def asem_stage(name: str) -> pd.DataFrame:
    """One stored COINr stage ("Raw", "Denominated", ...): units (UnitCode) x the 49 indicators."""
    return _read_stage(name).copy()


def asem_meta() -> pd.DataFrame:
    """The indicator rows of the ASEM framework, indexed by iCode."""
    meta = pd.read_csv(ASEM / "ASEM_iMeta.csv")
    return meta[meta["Type"] == "Indicator"].set_index("iCode")


def asem_units() -> pd.DataFrame:
    """The raw ASEM unit table (denominators, groups, indicators), indexed by uCode."""
    return pd.read_csv(ASEM / "ASEM_iData.csv").set_index("uCode")


def assert_same_frame(actual: pd.DataFrame, expected: pd.DataFrame, rtol: float, atol: float = 0.0) -> None:
    """Same units, indicators and missing cells, values within tolerance."""
    assert list(actual.index) == list(expected.index)
    assert list(actual.columns) == list(expected.columns)
    assert_allclose(actual.to_numpy(), expected.to_numpy(), rtol=rtol, atol=atol, equal_nan=True)


def test_asem_denominated_stage_is_reproduced():
    raw, units = asem_stage("Raw"), asem_units()
    out = denominate(raw, units[DENOMINATOR_COLUMNS], asem_meta()["Denominator"].to_dict())
    expected = asem_stage("Denominated")
    assert_same_frame(out, expected, rtol=STAGE_RTOL)
    # 17 indicators change, the 32 without a denominator are passed through untouched
    changed = [c for c in raw if not raw[c].equals(out[c])]
    assert len(changed) == 17 and {"Goods", "Flights", "Bord", "Elec", "NGOs"} <= set(changed)
    assert out["LPI"].equals(raw["LPI"])


def test_asem_missing_denominator_gives_missing():
    """LAO has no Energy value in iData, so its Elec and Gas are missing in COINr's stage too."""
    units = asem_units()
    assert np.isnan(units.loc["LAO", "Energy"])
    out = denominate(asem_stage("Raw"), units[DENOMINATOR_COLUMNS], asem_meta()["Denominator"].to_dict())
    assert out.loc["LAO", ["Elec", "Gas"]].isna().all()
    assert asem_stage("Denominated").loc["LAO", ["Elec", "Gas"]].isna().all()


INDICATORS = pd.DataFrame(
    {"trade": [10.0, 20.0, 30.0], "score": [1.0, 2.0, 3.0], "visits": [5.0, np.nan, 9.0]},
    index=["A", "B", "C"],
)
DENOMINATORS = pd.DataFrame({"gdp": [2.0, 0.0, 10.0], "pop": [100.0, 200.0, np.nan]}, index=["A", "B", "C"])


def test_divides_and_leaves_undenominated_indicators_alone():
    out = denominate(INDICATORS, DENOMINATORS, {"trade": "gdp", "score": "", "visits": "pop"})
    assert list(out.columns) == ["trade", "score", "visits"] and out.shape == INDICATORS.shape
    assert out.loc["A", "trade"] == 5.0 and out.loc["C", "trade"] == 3.0
    assert out["score"].equals(INDICATORS["score"])
    assert out.loc["A", "visits"] == 0.05


def test_zero_denominator_gives_missing_not_inf():
    out = denominate(INDICATORS, DENOMINATORS, {"trade": "gdp"})
    assert np.isnan(out.loc["B", "trade"])
    assert not np.isinf(out.to_numpy(dtype="float64")).any()


def test_missing_denominator_or_indicator_gives_missing():
    out = denominate(INDICATORS, DENOMINATORS, {"visits": "pop"})
    assert np.isnan(out.loc["B", "visits"])  # indicator missing
    assert np.isnan(out.loc["C", "visits"])  # denominator missing


def test_nan_and_absent_mean_no_denominator():
    out = denominate(INDICATORS, DENOMINATORS, {"trade": float("nan")})
    pd.testing.assert_frame_equal(out, INDICATORS)


def test_scale_single_and_per_indicator():
    out = denominate(INDICATORS, DENOMINATORS, {"trade": "gdp", "visits": "pop"}, scale=1000)
    assert out.loc["A", "trade"] == 5000.0 and out.loc["A", "visits"] == 50.0
    out = denominate(INDICATORS, DENOMINATORS, {"trade": "gdp", "visits": "pop"}, scale={"visits": 1000})
    assert out.loc["A", "trade"] == 5.0 and out.loc["A", "visits"] == 50.0


def test_rows_are_matched_on_the_unit_code_not_position():
    shuffled = DENOMINATORS.loc[["C", "A", "B"]]
    out = denominate(INDICATORS, shuffled, {"trade": "gdp"})
    assert out.loc["A", "trade"] == 5.0 and list(out.index) == ["A", "B", "C"]


def test_input_is_not_modified():
    before = INDICATORS.copy()
    denominate(INDICATORS, DENOMINATORS, {"trade": "gdp"})
    pd.testing.assert_frame_equal(INDICATORS, before)


def test_unknown_denominator_column_names_indicator_and_column():
    with pytest.raises(
        ValueError, match=r"unknown denominator column: trade -> 'GDP'.*known: \['gdp', 'pop'\]"
    ):
        denominate(INDICATORS, DENOMINATORS, {"trade": "GDP"})


def test_denominator_for_an_unknown_indicator_is_an_error():
    with pytest.raises(ValueError, match=r"indicators not in the data: \['trad'\]"):
        denominate(INDICATORS, DENOMINATORS, {"trad": "gdp"})


def test_unit_without_denominator_row_is_an_error():
    with pytest.raises(ValueError, match=r"no denominators for units: \['C'\]"):
        denominate(INDICATORS, DENOMINATORS.loc[["A", "B"]], {"trade": "gdp"})
