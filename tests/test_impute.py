"""Impute: golden against COINr's ASEM stage; cross-section and panel methods on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tasks.engine.denominate import denominate
from tasks.engine.impute import IMPUTERS, impute, impute_panel
from tests.test_denominate import (
    DENOMINATOR_COLUMNS,
    STAGE_RTOL,
    asem_meta,
    asem_stage,
    asem_units,
    assert_same_frame,
)


def test_asem_imputed_stage_is_reproduced():
    """COINr: Impute(dset = "Denominated", f_i = "i_mean_grp", use_group = "EurAsia_group")."""
    denominated, groups = asem_stage("Denominated"), asem_units()["EurAsia_group"]
    out = impute(denominated, "group_mean", groups)
    # stored inputs, so only the CSV's 10 digits separate the two: observed max abs 1.4e-14
    assert_same_frame(out, asem_stage("Imputed"), rtol=1e-12)
    assert out.notna().all().all() and denominated.isna().sum().sum() == 65
    # e.g. the six Asian units without Pat all get Asia's mean Pat, not the overall mean
    asia = groups[groups == "Asia"].index
    gaps = denominated.index[denominated["Pat"].isna()]
    assert set(gaps) <= set(asia) and len(gaps) == 6
    assert (out.loc[gaps, "Pat"] == denominated.loc[asia, "Pat"].mean()).all()
    assert denominated.loc[asia, "Pat"].mean() != denominated["Pat"].mean()


def test_asem_raw_to_imputed_chain():
    units = asem_units()
    denominated = denominate(
        asem_stage("Raw"), units[DENOMINATOR_COLUMNS], asem_meta()["Denominator"].to_dict()
    )
    assert_same_frame(
        impute(denominated, "group_mean", units["EurAsia_group"]), asem_stage("Imputed"), STAGE_RTOL
    )


DATA = pd.DataFrame(
    {
        "a": [1.0, np.nan, 3.0, 10.0, np.nan],
        "b": [np.nan, 2.0, 4.0, 6.0, 100.0],
        "c": [np.nan] * 3 + [1.0, 2.0],
    },
    index=["U1", "U2", "U3", "U4", "U5"],
)
GROUPS = pd.Series(["x", "x", "x", "y", "y"], index=DATA.index)


def test_mean_and_median_over_all_units():
    mean = impute(DATA, "mean")
    assert mean.loc["U2", "a"] == pytest.approx(14 / 3) and mean.loc["U1", "b"] == pytest.approx(28.0)
    median = impute(DATA, "median")
    assert median.loc["U2", "a"] == 3.0 and median.loc["U1", "b"] == 5.0


def test_group_mean_and_median_within_the_units_group():
    out = impute(DATA, "group_mean", GROUPS)
    assert out.loc["U2", "a"] == 2.0  # mean of U1, U3 (group x)
    assert out.loc["U5", "a"] == 10.0  # only U4 in group y
    assert out.loc["U1", "b"] == 3.0
    wide = pd.DataFrame({"a": [1.0, 2.0, 9.0, np.nan]}, index=list("pqrs"))
    out = impute(wide, "group_median", pd.Series(["g"] * 4, index=wide.index))
    assert out.loc["s", "a"] == 2.0


def test_a_group_without_any_value_stays_missing():
    out = impute(DATA, "group_mean", GROUPS)
    assert out.loc[["U1", "U2", "U3"], "c"].isna().all()  # group x has no c at all
    assert out.loc[["U4", "U5"], "c"].tolist() == [1.0, 2.0]


def test_groups_are_matched_on_the_unit_code():
    shuffled = GROUPS.loc[["U5", "U4", "U3", "U2", "U1"]]
    pd.testing.assert_frame_equal(impute(DATA, "group_mean", shuffled), impute(DATA, "group_mean", GROUPS))


def test_group_impute_leaves_present_values():
    out = impute(DATA, "group_mean", GROUPS)
    present = DATA.notna()
    assert (out[present] == DATA[present]).sum().sum() == present.sum().sum()


def test_constant_and_none():
    assert impute(DATA, "constant", value=0.0).loc["U2", "a"] == 0.0
    pd.testing.assert_frame_equal(impute(DATA, "none"), DATA)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"unknown imputation 'mode'; known: \['constant', 'group_mean'"):
        impute(DATA, "mode")
    with pytest.raises(ValueError, match="needs panel data, use impute_panel"):
        impute(DATA, "latest")
    with pytest.raises(ValueError, match="'group_mean' needs groups"):
        impute(DATA, "group_mean")
    with pytest.raises(ValueError, match="'group_mean': no unit has a group"):
        impute(DATA, "group_mean", GROUPS.iloc[:0])
    with pytest.raises(ValueError, match="'constant' needs a value"):
        impute(DATA, "constant")


frames = st.integers(2, 8).flatmap(
    lambda n: st.tuples(
        arrays("float64", (n, 3), elements=st.one_of(st.just(np.nan), st.floats(-1e6, 1e6))),
        st.lists(st.sampled_from(["g1", "g2", "g3"]), min_size=n, max_size=n),
    )
)


@settings(max_examples=150, deadline=None)
@given(frames, st.sampled_from(sorted(IMPUTERS)))
def test_no_method_ever_changes_a_present_value(frame, method):
    values, labels = frame
    data = pd.DataFrame(values, columns=["a", "b", "c"], index=[f"u{i}" for i in range(len(values))])
    out = impute(data, method, pd.Series(labels, index=data.index), value=-7.0)
    present = data.notna().to_numpy()
    assert out.shape == data.shape and list(out.index) == list(data.index)
    np.testing.assert_array_equal(out.to_numpy()[present], data.to_numpy()[present])
    # and a filled value is always one the method could produce: never inf
    assert not np.isinf(out.to_numpy()).any()


PANEL = pd.DataFrame(
    {
        "unit": ["A", "A", "A", "A", "A", "B", "B", "B"],
        "year": [2015, 2016, 2017, 2019, 2020, 2016, 2017, 2018],
        "x": [np.nan, 1.0, np.nan, 4.0, np.nan, 10.0, np.nan, 30.0],
        "y": [5.0, np.nan, np.nan, np.nan, 9.0, np.nan, np.nan, np.nan],
    }
)


def test_latest_carries_the_units_own_last_value_forward():
    out = impute_panel(PANEL, "latest")
    assert np.isnan(out.loc[0, "x"])  # A's earliest year stays missing
    assert out.loc[2, "x"] == 1.0 and out.loc[4, "x"] == 4.0
    assert out.loc[6, "x"] == 10.0  # B's own value, not A's
    assert out.loc[[1, 2, 3], "y"].tolist() == [5.0, 5.0, 5.0]
    assert out["y"].iloc[5:].isna().all()  # B never has y


def test_interpolate_is_linear_in_time_without_extrapolation():
    out = impute_panel(PANEL, "interpolate")
    assert np.isnan(out.loc[0, "x"]) and np.isnan(out.loc[4, "x"])  # before first / after last observation
    assert out.loc[2, "x"] == pytest.approx(2.0)  # 2017 between 2016 (1) and 2019 (4): by year, not by row
    assert out.loc[6, "x"] == pytest.approx(20.0)
    # y: 5 in 2015 and 9 in 2020 -> one per year
    assert out.loc[[1, 2, 3], "y"].tolist() == pytest.approx([5.8, 6.6, 8.2])


def test_panel_rows_in_any_order_and_present_values_kept():
    shuffled = PANEL.sample(frac=1.0, random_state=3)
    out = impute_panel(shuffled, "interpolate")
    assert list(out.index) == list(shuffled.index)
    pd.testing.assert_frame_equal(out.sort_index(), impute_panel(PANEL, "interpolate"))
    present = PANEL[["x", "y"]].notna()
    for method, value in [("latest", None), ("interpolate", None), ("constant", -1.0)]:
        filled = impute_panel(PANEL, method, value=value)[["x", "y"]]
        assert (filled[present] == PANEL[["x", "y"]][present]).sum().sum() == present.sum().sum()


def test_panel_constant_and_column_names():
    panel = PANEL.rename(columns={"unit": "city", "year": "t"})
    out = impute_panel(panel, "constant", unit="city", time="t", value=0.0)
    assert out[["x", "y"]].notna().all().all() and out.loc[0, "x"] == 0.0
    assert list(out.columns) == list(panel.columns)


def test_panel_errors():
    with pytest.raises(
        ValueError, match=r"unknown panel imputation 'mean'; known: \['constant', 'interpolate'"
    ):
        impute_panel(PANEL, "mean")
    with pytest.raises(ValueError, match=r"no column \['time'\]"):
        impute_panel(PANEL, "latest", time="time")
    with pytest.raises(ValueError, match=r"repeated \(unit, year\) rows: \[\('A', 2016\)\]"):
        impute_panel(pd.concat([PANEL, PANEL.iloc[[1]]]), "latest")
