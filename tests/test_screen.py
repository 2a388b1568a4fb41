"""Screen: availability threshold, forced include / exclude, unknown codes; COINr's ASEM screen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.engine.screen import ScreenResult, screen
from tests.test_denominate import asem_stage

N = np.nan
DATA = pd.DataFrame(
    {"a": [1.0, 1.0, N, N, 1.0], "b": [1.0, 1.0, 1.0, N, 1.0], "c": [1.0, N, N, N, 1.0]},
    index=["FULL", "TWO", "ONE", "NONE", "ALSO"],
)


def _report(result: ScreenResult) -> dict[str, tuple]:
    return {
        row.unit: (round(row.availability, 4), row.kept, row.reason) for row in result.report.itertuples()
    }


def test_threshold_keeps_units_with_enough_data_in_order():
    result = screen(DATA)  # 2/3: exactly two of three indicators is enough
    assert list(result.data.index) == ["FULL", "TWO", "ALSO"]
    pd.testing.assert_frame_equal(result.data, DATA.loc[["FULL", "TWO", "ALSO"]])
    assert _report(result) == {
        "FULL": (1.0, True, "ok"),
        "TWO": (0.6667, True, "ok"),
        "ONE": (0.3333, False, "below threshold 0.67"),
        "NONE": (0.0, False, "below threshold 0.67"),
        "ALSO": (1.0, True, "ok"),
    }
    assert list(result.report.columns) == ["unit", "availability", "kept", "reason"]
    assert result.report["kept"].dtype == bool


def test_threshold_boundary_six_of_nine_is_two_thirds():
    data = pd.DataFrame([[1.0] * 6 + [N] * 3], index=["U"], columns=list("abcdefghi"))
    assert screen(data).report.loc[0, "kept"]
    assert not screen(data, min_availability=0.7).report.loc[0, "kept"]


def test_forced_include_wins_over_the_threshold():
    result = screen(DATA, min_availability=0.9, include=["ONE", "FULL"])
    assert list(result.data.index) == ["FULL", "ONE", "ALSO"]
    report = _report(result)
    assert report["ONE"] == (0.3333, True, "forced include")
    assert report["FULL"][1:] == (True, "forced include")
    assert report["TWO"] == (0.6667, False, "below threshold 0.90")


def test_forced_exclude_always_drops_even_if_included():
    result = screen(DATA, include=["ALSO"], exclude=["FULL", "ALSO"])
    assert list(result.data.index) == ["TWO"]
    assert _report(result)["FULL"] == (1.0, False, "forced exclude")
    assert _report(result)["ALSO"] == (1.0, False, "forced exclude")


def test_threshold_zero_keeps_even_empty_units():
    assert len(screen(DATA, min_availability=0.0).data) == 5


def test_unknown_codes_are_named():
    with pytest.raises(ValueError, match=r"unknown unit codes to include: \['XXX'\]"):
        screen(DATA, include=["FULL", "XXX"])
    with pytest.raises(ValueError, match=r"unknown unit codes to exclude: \['YYY', 'ZZZ'\]"):
        screen(DATA, exclude=["ZZZ", "YYY"])
    with pytest.raises(ValueError, match="min_availability must be in"):
        screen(DATA, min_availability=1.5)


def test_asem_screen_runs_on_imputed_data_so_no_unit_is_dropped():
    """COINr's example screens the *Imputed* set at 90 % (everything is available there).

    The same rule on the Denominated set would drop BGD, BRN, KHM, LAO, MMR: the README's
    "none dropped" holds only because imputation came first.
    """
    imputed = screen(asem_stage("Imputed"), min_availability=0.9)
    assert imputed.report["kept"].all() and len(imputed.data) == 51
    denominated = screen(asem_stage("Denominated"), min_availability=0.9)
    dropped = set(denominated.report.loc[~denominated.report["kept"], "unit"])
    assert dropped == {"BGD", "BRN", "KHM", "LAO", "MMR"}
    assert denominated.report.set_index("unit").loc["BRN", "availability"] == pytest.approx(39 / 49)
