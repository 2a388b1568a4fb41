import math

import numpy as np
import pandas as pd
import pytest

from tasks.engine.normalise import NORMALISERS, normalise

UNITS = pd.Index(["A", "B", "C", "D"], name="unit")


def one(values, method, direction=1, scale=(0, 100), **settings):
    """Normalise a single indicator `x` with optional per-indicator settings."""
    data = pd.DataFrame({"x": values}, index=UNITS, dtype="float64")
    table = pd.DataFrame(settings, index=["x"]) if settings else None
    return normalise(data, pd.Series({"x": direction}), method, scale, settings=table)["x"].tolist()


# The settings a method needs to run at all (see the tests of each method below).
NEEDS = {
    "goalposts": {"goalpost_low": 1, "goalpost_high": 5},
    "dist_target": {"target": 4},
    "dist_reference": {"reference": "B"},
}


@pytest.mark.parametrize("method", sorted(NORMALISERS))
def test_every_method_keeps_the_units_order_and_direction_turns_it(method):
    """Whatever is registered: a better raw value never scores worse, and direction -1 turns
    the order around ("none" passes the values through as they are)."""
    values = [1.0, 2.0, 3.5, 5.0]
    up = one(values, method, 1, **NEEDS.get(method, {}))
    down = one(values, method, -1, **NEEDS.get(method, {}))
    if method == "none":
        assert up == down == values
        return
    assert np.all(np.diff(up) >= 0) and up[-1] > up[0], up
    assert np.all(np.diff(down) <= 0) and down[-1] < down[0], down


@pytest.mark.parametrize(
    ("direction", "scale", "expected"),
    [
        (1, (0, 100), [0, 25, 75, 100]),
        (-1, (0, 100), [100, 75, 25, 0]),
        (1, (0, 1), [0, 0.25, 0.75, 1]),
        (1, (1, 100), [1, 25.75, 75.25, 100]),
        (-1, (1, 100), [100, 75.25, 25.75, 1]),
    ],
)
def test_minmax(direction, scale, expected):
    assert one([1, 2, 4, 5], "minmax", direction, scale) == pytest.approx(expected)


def test_zscore_uses_the_sample_sd_and_ignores_the_range():
    sd = math.sqrt(10 / 3)  # deviations -2, -1, 1, 2 over n - 1 = 3
    assert one([1, 2, 4, 5], "zscore") == pytest.approx([-2 / sd, -1 / sd, 1 / sd, 2 / sd])
    assert one([1, 2, 4, 5], "zscore", -1, (0, 1)) == pytest.approx([2 / sd, 1 / sd, -1 / sd, -2 / sd])
    assert all(np.isnan(one([3, 3, 3, 3], "zscore")))


def test_rank_gives_ties_the_lowest_rank_and_the_highest_value_the_highest_rank():
    # R's rank(ties.method = "min"), COINr's n_rank default
    assert one([1, 2, 2, 5], "rank") == [1, 2, 2, 4]
    assert one([1, 2, 2, 5], "rank", -1) == [4, 2, 2, 1]
    out = one([1, np.nan, 2, 5], "rank")
    assert out[0] == 1 and np.isnan(out[1]) and out[2:] == [2, 3]


def test_percentile_is_rank_minus_one_over_count_minus_one_times_100():
    # ranks 1, 2, 2, 4 -> (0, 1, 1, 3) / 3
    assert one([1, 2, 2, 5], "percentile") == pytest.approx([0, 100 / 3, 100 / 3, 100])
    out = one([1, np.nan, 2, 5], "percentile", -1)  # ranks 3, -, 2, 1 of n = 3
    assert out[0] == 100 and np.isnan(out[1]) and out[2:] == pytest.approx([50, 0])


def test_percentile_share_is_rank_over_count_times_100():
    assert one([1, 2, 2, 5], "percentile_share") == [25, 50, 50, 100]
    out = one([1, np.nan, 2, 5], "percentile_share", -1)
    assert out[0] == 100 and np.isnan(out[1]) and out[2:] == pytest.approx([200 / 3, 100 / 3])


def test_dist_max_is_the_distance_to_the_best_unit():
    assert one([1, 2, 4, 5], "dist_max") == pytest.approx([0, 25, 75, 100])
    assert one([1, 2, 4, 5], "dist_max", -1, (1, 100)) == pytest.approx([100, 75.25, 25.75, 1])


def test_dist_target_scales_by_the_upper_bound_and_caps_only_when_asked():
    # (x - 1) / (4 - 1) * 100: 5 is a third past the target
    assert one([1, 2, 4, 5], "dist_target", target=4) == pytest.approx([0, 100 / 3, 100, 400 / 3])
    capped = one([1, 2, 4, 5], "dist_target", target=4, target_cap=True)
    assert capped == pytest.approx([0, 100 / 3, 100, 100])
    unit_range = one([1, 2, 4, 5], "dist_target", scale=(0, 1), target=4.5)
    assert unit_range == pytest.approx([0, 2 / 7, 6 / 7, 8 / 7])
    # lower is better, target 2: (5 - x) / (5 - 2); 1 is past it
    assert one([1, 2, 4, 5], "dist_target", -1, target=2) == pytest.approx([400 / 3, 100, 100 / 3, 0])
    capped = one([1, 2, 4, 5], "dist_target", -1, target=2, target_cap="true")
    assert capped == pytest.approx([100, 100, 100 / 3, 0])


def test_dist_reference_is_a_percentage_of_the_reference_unit():
    assert one([1, 2, 4, 5], "dist_reference", reference="B") == pytest.approx([50, 100, 200, 250])
    assert one([1, 2, 4, 5], "dist_reference", -1, reference="B") == pytest.approx([200, 100, 50, 40])
    data = pd.DataFrame({"x": [1.0, 2.0, 4.0, 5.0], "y": [10.0, 5.0, 20.0, 40.0]}, index=UNITS)
    out = normalise(data, pd.Series({"x": 1, "y": 1}), "dist_reference", reference="C")
    assert out["x"].tolist() == [25, 50, 100, 125] and out["y"].tolist() == [50, 25, 100, 200]


@pytest.mark.parametrize(
    ("direction", "scale", "expected"),
    [
        (1, (0, 100), [0, 0, 50, 100]),
        (-1, (0, 100), [100, 100, 50, 0]),
        (1, (1, 100), [1, 1, 50.5, 100]),
        (-1, (0, 1), [1, 1, 0.5, 0]),
    ],
)
def test_goalposts_cap_values_beyond_them(direction, scale, expected):
    out = one([1, 2, 3, 5], "goalposts", direction, scale, goalpost_low=2, goalpost_high=4)
    assert out == pytest.approx(expected)


def test_goalposts_with_a_log_transform_of_values_and_goalposts():
    e = math.e
    out = one(
        [e**-1, e**1, e**1.5, e**3],
        "goalposts",
        1,
        (0, 1),
        goalpost_low=1,
        goalpost_high=e**2,
        transform="ln",
    )
    assert out == pytest.approx([0, 0.5, 0.75, 1])
    out = one(
        [10, 100, 1000, 10**5],
        "goalposts",
        1,
        (0, 100),
        goalpost_low=10,
        goalpost_high=1000,
        transform="log10",
    )
    assert out == pytest.approx([0, 50, 100, 100])
    # lower is better: ln(e^1) is a quarter of the way from the best goalpost ln(1) = 0 to ln(e^4) = 4
    out = one(
        [e, e**4, e**5, 0.5], "goalposts", -1, (0, 100), goalpost_low=1, goalpost_high=e**4, transform="ln"
    )
    assert out == pytest.approx([75, 0, 0, 100])


def test_none_returns_the_scores_as_they_are():
    assert one([1, 2, 4, 5], "none", -1, (0, 1)) == [1, 2, 4, 5]


def test_per_indicator_settings_override_the_default_method():
    data = pd.DataFrame(
        {
            "a": [1.0, 2.0, 4.0, 5.0],
            "b": [1.0, 2.0, 3.0, 5.0],
            "c": [0.5, 0.2, 0.9, 0.1],
            "d": [1.0, 2.0, 2.0, 5.0],
        },
        index=UNITS,
    )
    settings = pd.DataFrame(
        {
            "normalise": [np.nan, "goalposts", "none", ""],
            "goalpost_low": [np.nan, 2, np.nan, np.nan],
            "goalpost_high": [np.nan, 4, np.nan, np.nan],
            "transform": ["", np.nan, "", ""],
        },
        index=["a", "b", "c", "d"],
    )
    out = normalise(data, pd.Series({"a": 1, "b": -1, "c": 1, "d": 1}), "minmax", (0, 100), settings=settings)
    assert out["a"].tolist() == [0, 25, 75, 100]
    assert out["b"].tolist() == [100, 100, 50, 0]
    assert out["c"].tolist() == [0.5, 0.2, 0.9, 0.1]
    assert out["d"].tolist() == [0, 25, 25, 100]
    assert out.index.equals(UNITS) and list(out.columns) == ["a", "b", "c", "d"]


def test_unknown_methods_are_named_with_the_known_ones():
    data = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"unknown normalisation 'nope'; known: \['dist_max', "):
        normalise(data, pd.Series({"x": 1}), "nope")
    with pytest.raises(ValueError, match=r"unknown normalisation 'borda'"):
        normalise(data, pd.Series({"x": 1}), settings=pd.DataFrame({"normalise": ["borda"]}, index=["x"]))


def test_goalposts_need_both_goalposts():
    with pytest.raises(
        ValueError, match=r"indicator 'x': goalposts need both goalpost_low and goalpost_high"
    ):
        one([1, 2, 3, 4], "goalposts", goalpost_low=1, goalpost_high=np.nan)
    with pytest.raises(ValueError, match=r"indicator 'x': goalposts need both"):
        one([1, 2, 3, 4], "goalposts")


def test_a_log_of_a_non_positive_value_names_indicator_and_unit():
    with pytest.raises(ValueError, match=r"indicator 'x': ln of a non-positive value 0.0 for unit 'C'"):
        one([1, 2, 0, 4], "goalposts", goalpost_low=1, goalpost_high=4, transform="ln")
    with pytest.raises(ValueError, match=r"indicator 'x': log10 of a non-positive goalpost 0"):
        one([1, 2, 3, 4], "goalposts", goalpost_low=0, goalpost_high=4, transform="log10")
    with pytest.raises(ValueError, match=r"unknown transform 'sqrt'"):
        one([1, 2, 3, 4], "minmax", transform="sqrt")


def test_dist_target_and_dist_reference_need_their_setting():
    with pytest.raises(ValueError, match=r"indicator 'x': dist_target needs a target"):
        one([1, 2, 3, 4], "dist_target")
    with pytest.raises(ValueError, match=r"indicator 'x': dist_reference needs a reference unit"):
        one([1, 2, 3, 4], "dist_reference")
    with pytest.raises(ValueError, match=r"reference unit 'Z' is not among the units"):
        one([1, 2, 3, 4], "dist_reference", reference="Z")
