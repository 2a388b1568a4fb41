"""Panel data (COINr's purse): periods scored in one run, ranks per period, pooled or
per-period normalisation, imputation from the unit's other periods, the time column kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.engine.framework import Framework
from tasks.engine.impute import impute_panel
from tasks.engine.method import Method, MethodError
from tasks.engine.panel import compute_panel
from tasks.engine.units import read_framework, read_units
from tasks.warehouse.catalog import PROJECT_ROOT
from tests.conftest import coopindex

FLAT = Framework.from_table(
    pd.DataFrame(
        [("idx", "", 2, 1.0, 1), ("a", "idx", 1, 1.0, 1), ("b", "idx", 1, 1.0, -1)],
        columns=["code", "parent", "level", "weight", "direction"],
    )
)


def panel(values: dict[tuple[str, int], tuple[float, float]]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(list(values), names=["unit", "Time"])
    return pd.DataFrame(list(values.values()), index=index, columns=["a", "b"], dtype="float64")


def method(**sections: dict) -> Method:
    return Method(name="panel", version="1", **sections)


SMALL = panel({("X", 1): (0, 1), ("Y", 1): (5, 2), ("Z", 1): (10, 3),
               ("X", 2): (10, 1), ("Y", 2): (15, 2), ("Z", 2): (20, 5)})  # fmt: skip


def test_pooled_normalisation_uses_the_min_and_max_of_every_period():
    stages = compute_panel(SMALL, FLAT, method(normalise={"panel": "pooled"}), time="Time")
    a = stages.normalised["a"]
    # a over both periods: min 0, max 20 -> (x - 0) / 20 * 100
    assert a.loc[("X", 1)] == 0 and a.loc[("Y", 1)] == 25 and a.loc[("Z", 1)] == 50
    assert a.loc[("X", 2)] == 50 and a.loc[("Y", 2)] == 75 and a.loc[("Z", 2)] == 100
    # b is lower-is-better: -b over both periods from -5 to -1; Y in period 2: (-2 + 5) / 4 * 100
    assert stages.normalised["b"].loc[("Y", 2)] == pytest.approx(75.0)
    assert stages.normalised["b"].loc[("Z", 2)] == 0.0


def test_per_period_normalisation_rescales_each_period():
    stages = compute_panel(SMALL, FLAT, method(normalise={"panel": "period"}), time="Time")
    a = stages.normalised["a"]
    assert [a.loc[(u, t)] for t in (1, 2) for u in "XYZ"] == [0, 50, 100, 0, 50, 100]
    # b in period 2: 1, 2, 5 -> -b from -5 to -1: X 100, Y (-2 + 5) / 4 * 100 = 75, Z 0
    assert stages.normalised["b"].xs(2, level="Time").tolist() == pytest.approx([100.0, 75.0, 0.0])


def test_ranks_restart_in_each_period_and_every_table_keeps_the_period():
    stages = compute_panel(SMALL, FLAT, method(normalise={"panel": "pooled"}), time="Time")
    index = stages.scores[stages.scores["node"] == "idx"]
    assert list(stages.scores.columns[:3]) == ["unit", "Time", "node"]
    ranks = index.set_index(["unit", "Time"])["rank"]
    # pooled, period 1: X (0 + 100) / 2, Y (25 + 75) / 2, Z (50 + 50) / 2: three at 50 share rank 1;
    # period 2: X (50 + 100) / 2 = 75, Y (75 + 75) / 2 = 75, Z (100 + 0) / 2 = 50: 1, 1, 3
    assert stages.aggregated.xs(1, level="Time")["idx"].tolist() == pytest.approx([50.0, 50.0, 50.0])
    assert [ranks[(u, 1)] for u in "XYZ"] == [1, 1, 1]
    assert [ranks[(u, 2)] for u in "XYZ"] == [1, 1, 3]
    assert list(stages.reports["screening"].columns[:2]) == ["unit", "Time"]


@pytest.mark.parametrize(("name", "expected"), [("latest", 10.0), ("interpolate", 15.0)])
def test_a_gap_is_filled_from_the_units_other_periods(name, expected):
    data = panel({("X", 1): (10, 1), ("X", 2): (np.nan, 1), ("X", 3): (20, 1),
                  ("Y", 1): (0, 2), ("Y", 2): (5, 2), ("Y", 3): (8, 2)})  # fmt: skip
    chosen = method(impute={"method": name}, screen={"min_availability": 0.5})
    stages = compute_panel(data, FLAT, chosen, time="Time")
    assert stages.imputed.loc[("X", 2), "a"] == expected
    assert np.isnan(stages.raw.loc[("X", 2), "a"])


def test_pooled_dist_reference_is_refused():
    with pytest.raises(MethodError, match="dist_reference"):
        compute_panel(SMALL, FLAT, method(normalise={"method": "dist_reference"}), time="Time")


def big_panel(units: int = 190, periods: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    index = pd.MultiIndex.from_product([[f"U{i:03d}" for i in range(units)], range(1991, 1991 + periods)],
                                       names=["unit", "Time"])  # fmt: skip
    trend = np.tile(np.arange(periods), units)[:, None] * 0.2
    return pd.DataFrame(rng.normal(size=(len(index), 2)) + trend, index=index, columns=["a", "b"])


@pytest.mark.parametrize("pooling", ["pooled", "period"])
def test_190_units_over_30_periods_in_one_run(pooling):
    raw = big_panel()
    stages = compute_panel(raw, FLAT, method(normalise={"panel": pooling}), time="Time")
    x = raw["a"].to_numpy()
    if pooling == "pooled":
        expected = (x - x.min()) / (x.max() - x.min()) * 100
    else:
        period = raw.index.get_level_values("Time")
        low = raw["a"].groupby(period).transform("min").to_numpy()
        high = raw["a"].groupby(period).transform("max").to_numpy()
        expected = (x - low) / (high - low) * 100
    got = stages.normalised["a"].reindex(raw.index).to_numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    index = stages.scores[stages.scores["node"] == "idx"]
    assert index.groupby("Time")["rank"].agg(lambda r: sorted(r) == list(range(1, 191))).all()
    assert index["Time"].nunique() == 30 and len(index) == 190 * 30


def test_the_command_writes_the_time_column_everywhere(tmp_path: Path):
    framework = tmp_path / "framework.csv"
    FLAT.table.to_csv(framework, index=False)
    data = tmp_path / "data.csv"
    SMALL.rename_axis(["uCode", "Time"]).reset_index().to_csv(data, index=False)
    spec = tmp_path / "method.yaml"
    spec.write_text("name: p\nversion: '1'\nnormalise: {panel: period}\n")
    out = tmp_path / "out"
    done = coopindex("score", "--framework", str(framework), "--data", str(data), "--method", str(spec),
                     "--out", str(out), "--audit")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Time 2" in done.stdout
    for name in ("raw", "normalised", "aggregated", "scores", "contributions", "strengths", "screening",
                 "leave_one_out_units"):  # fmt: skip
        assert list(pd.read_parquet(out / f"{name}.parquet").columns[:2]) == ["unit", "Time"], name
    assert pd.read_parquet(out / "correlations.parquet").columns[0] == "Time"
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns[:4]) == ["unit", "Time", "name", "rank"]
    # period 2 alone: a 0, 50, 100 and b (lower is better) 100, 75, 0 -> Y (50 + 75) / 2 is first
    second = results[results["Time"] == 2].set_index("unit")
    assert second.loc["Y", "rank"] == 1 and second.loc["Y", "idx"] == pytest.approx(62.5)


def test_one_period_is_a_cross_section():
    tree, settings = read_framework(PROJECT_ROOT / "tests" / "data" / "coinr_asem" / "ASEM_iMeta.csv")
    units = read_units(PROJECT_ROOT / "tests" / "data" / "coinr_asem" / "ASEM_iData.csv", tree, settings)
    assert units.time is None and units.indicators.index.nlevels == 1


# impute.max_time, over the panel's periods 1..6. X's `a`: 10, -, -, 40, -, 60. Y's `a`: 1, -, 3,
# -, (no row in period 5), 7: its gap after 3 spans periods 4 and 5.
REACH = panel({("X", 1): (10, 1), ("X", 2): (np.nan, 1), ("X", 3): (np.nan, 1), ("X", 4): (40, 1),
               ("X", 5): (np.nan, 1), ("X", 6): (60, 1),
               ("Y", 1): (1, 2), ("Y", 2): (np.nan, 2), ("Y", 3): (3, 2), ("Y", 4): (np.nan, 2),
               ("Y", 6): (7, 2)})  # fmt: skip
GAPS = [("X", 2), ("X", 3), ("X", 5), ("Y", 2), ("Y", 4)]


def reached(method: str, max_time: int | None) -> list[float]:
    long = REACH.reset_index()
    out = impute_panel(long, method, time="Time", max_time=max_time).set_index(["unit", "Time"])
    return out.loc[GAPS, "a"].tolist()


@pytest.mark.parametrize(
    ("max_time", "expected"),
    [
        (None, [10.0, 10.0, 40.0, 1.0, 3.0]),  # today's behaviour: as far back as the panel goes
        (2, [10.0, 10.0, 40.0, 1.0, 3.0]),
        (1, [10.0, np.nan, 40.0, 1.0, 3.0]),  # X at 3: its 10 is two periods old
    ],
)
def test_latest_copies_a_value_at_most_max_time_periods_old(max_time, expected):
    np.testing.assert_array_equal(reached("latest", max_time), expected)


@pytest.mark.parametrize(
    ("max_time", "expected"),
    [
        # X: 10 at 1 and 40 at 4 give 20, 30; 40 and 60 give 50. Y: 2; 3 at 3 and 7 at 6 give 3 + 4/3 at 4
        (None, [20.0, 30.0, 50.0, 2.0, 3 + 4 / 3]),
        (2, [20.0, 30.0, 50.0, 2.0, 3 + 4 / 3]),
        (1, [np.nan, np.nan, 50.0, 2.0, np.nan]),  # the gaps of two periods stay missing
    ],
)
def test_interpolate_fills_only_gaps_of_at_most_max_time_periods(max_time, expected):
    np.testing.assert_allclose(reached("interpolate", max_time), expected, rtol=0, atol=1e-12)


def test_max_time_through_the_method_and_only_for_panel_methods():
    chosen = method(impute={"method": "latest", "max_time": 1}, screen={"min_availability": 0.5})
    stages = compute_panel(REACH, FLAT, chosen, time="Time")
    assert stages.imputed.loc[("X", 2), "a"] == 10.0 and np.isnan(stages.imputed.loc[("X", 3), "a"])
    unlimited = method(impute={"method": "latest"}, screen={"min_availability": 0.5})
    assert compute_panel(REACH, FLAT, unlimited, time="Time").imputed.loc[("X", 3), "a"] == 10.0
    with pytest.raises(ValueError, match="max_time applies to latest and interpolate"):
        method(impute={"method": "mean", "max_time": 2})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        method(impute={"method": "latest", "max_time": 0})
    with pytest.raises(ValueError, match="max_time is a number of periods"):
        impute_panel(REACH.reset_index(), "constant", time="Time", value=0.0, max_time=1)
