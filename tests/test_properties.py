"""Properties every method must keep, checked on generated data (hypothesis)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tasks.engine.aggregate import AGGREGATORS, aggregate
from tasks.engine.framework import Framework
from tasks.engine.normalise import normalise
from tasks.engine.weight import equal_weights, framework_weights, pca_weights

SETTINGS = settings(max_examples=60, deadline=None)
SCALES = st.sampled_from([(0, 100), (1, 100), (0, 1), (-1, 1)])
VALUE = st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False)
VALUES = st.lists(st.one_of(VALUE, st.just(np.nan)), min_size=1, max_size=12)


@st.composite
def trees(draw) -> Framework:
    """A random framework: index -> 1-4 dimensions (optionally grouped in pillars) -> 1-4 indicators."""
    weight = st.floats(0.1, 10)
    pillars = draw(st.booleans())
    top = 4 if pillars else 3
    rows = [("index", "", top, 1.0, 1)]
    for d in range(draw(st.integers(1, 4))):
        parent = "index"
        if pillars:
            parent = f"p{d % 2}"
            if not any(row[0] == parent for row in rows):
                rows.append((parent, "index", 3, draw(weight), 1))
        rows.append((f"d{d}", parent, 2, draw(weight), 1))
        for i in range(draw(st.integers(1, 4))):
            rows.append((f"i{d}{i}", f"d{d}", 1, draw(weight), draw(st.sampled_from([1, -1]))))
    return Framework.from_table(
        pd.DataFrame(rows, columns=["code", "parent", "level", "weight", "direction"])
    )


def column(values, method, direction=1, scale=(0, 100), ties="min", **options):
    data = pd.DataFrame({"x": values}, dtype="float64")
    table = pd.DataFrame(options, index=["x"]) if options else None
    out = normalise(data, pd.Series({"x": direction}), method, scale, settings=table, ties=ties)
    return out["x"].to_numpy()


def within(out, scale):
    low, high = scale
    tol = 1e-9 * (high - low)
    present = out[~np.isnan(out)]
    return bool(((present >= low - tol) & (present <= high + tol)).all())


@SETTINGS
@given(VALUES, st.sampled_from([1, -1]), SCALES)
def test_minmax_stays_within_the_range(values, direction, scale):
    out = column(values, "minmax", direction, scale)
    assert within(out, scale)
    present = out[~np.isnan(out)]
    if len(present):  # the best unit reaches the top, the worst the bottom
        assert present.max() == pytest.approx(scale[1]) and present.min() == pytest.approx(scale[0])


@SETTINGS
@given(VALUES, st.sampled_from([1, -1]), SCALES, VALUE, st.floats(1e-3, 1e4))
def test_goalposts_stay_within_the_range(values, direction, scale, lower, width):
    out = column(values, "goalposts", direction, scale, goalpost_low=lower, goalpost_high=lower + width)
    assert within(out, scale)
    assert np.isnan(out).tolist() == np.isnan(np.asarray(values, dtype="float64")).tolist()


@st.composite
def weighted_data(draw):
    framework = draw(trees())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 30))
    data = pd.DataFrame(rng.uniform(0, 100, (n, len(framework.indicators))), columns=framework.indicators)
    data = data.mask(rng.random(data.shape) < draw(st.sampled_from([0.0, 0.2, 0.6])))
    return framework, data


@SETTINGS
@given(weighted_data())
def test_weights_sum_to_one_within_every_parent(case):
    framework, data = case
    parent = framework.column("parent")
    for weights in (framework_weights(framework), equal_weights(framework), pca_weights(data, framework)):
        assert (weights >= 0).all()
        sums = weights.groupby(parent).sum()
        assert sums.to_numpy() == pytest.approx(np.ones(len(sums)))


@SETTINGS
@given(
    st.lists(VALUE, min_size=2, max_size=12),
    st.data(),
    st.floats(1e-3, 1e4),
    st.sampled_from(["minmax", "goalposts", "rank", "percentile"]),
    SCALES,
)
def test_improving_on_a_positive_indicator_never_lowers_its_score(values, data, step, method, scale):
    unit = data.draw(st.integers(0, len(values) - 1))
    better = list(values)
    better[unit] += step
    options = {"goalpost_low": -100.0, "goalpost_high": 100.0} if method == "goalposts" else {}
    before = column(values, method, 1, scale, **options)[unit]
    after = column(better, method, 1, scale, **options)[unit]
    assume(not np.isnan(before) and not np.isnan(after))  # minmax without spread (all equal) is missing
    assert after >= before - 1e-9 * abs(scale[1] - scale[0])


@SETTINGS
@given(
    st.floats(0.01, 1000),
    st.lists(st.floats(0.01, 10), min_size=1, max_size=6),
    st.sampled_from(sorted(AGGREGATORS)),
    st.floats(-3, 3),
)
def test_a_mean_of_equal_children_is_that_value(value, weights, method, power):
    values = np.full((3, len(weights)), value)
    values[1, 0] = np.nan  # a missing child changes nothing
    out = AGGREGATORS[method](values, np.asarray(weights), power=power)
    if len(weights) == 1:
        assert np.isnan(out[1])
        out = out[[0, 2]]
    else:
        out = out[[0, 1, 2]]
    assert out == pytest.approx(np.full(len(out), value), rel=1e-9)


@SETTINGS
@given(trees(), st.floats(0.01, 1000), st.sampled_from(sorted(AGGREGATORS)), st.floats(-3, 3))
def test_aggregating_equal_scores_returns_that_score_at_every_node(framework, value, method, power):
    data = pd.DataFrame(value, index=range(2), columns=framework.indicators)
    out = aggregate(data, framework, method, power=power)
    assert out.to_numpy() == pytest.approx(np.full(out.shape, value), rel=1e-9)


@SETTINGS
@given(
    st.lists(st.floats(0.01, 1000), min_size=1, max_size=6),
    st.data(),
    st.sampled_from(sorted(AGGREGATORS)),
    st.floats(-3, 3),
)
def test_every_mean_lies_between_the_smallest_and_largest_child(values, data, method, power):
    weights = np.asarray(data.draw(st.lists(st.floats(0.01, 10), min_size=len(values), max_size=len(values))))
    row = np.asarray([values])
    out = AGGREGATORS[method](row, weights, power=power)[0]
    assert min(values) * (1 - 1e-12) <= out <= max(values) * (1 + 1e-12)
    if method == "power" and abs(power) > 0.05:  # the plain formula where it is well conditioned
        plain = (np.sum(weights * row[0] ** power) / weights.sum()) ** (1 / power)
        assert out == pytest.approx(plain, rel=1e-9)


TIES = st.sampled_from(["min", "average", "max", "dense"])
TIE_PRONE = st.lists(st.one_of(st.integers(-3, 3).map(float), st.just(np.nan)), min_size=1, max_size=12)


@SETTINGS
@given(TIE_PRONE, st.sampled_from([1, -1]), TIES)
def test_ranks_give_tied_values_one_rank_in_order(values, direction, ties):
    x = np.asarray(values, dtype="float64")
    ranks = column(values, "rank", direction, ties=ties)
    present = ~np.isnan(x)
    assert np.isnan(ranks).tolist() == (~present).tolist()
    for value in np.unique(x[present]):
        assert len(set(ranks[x == value])) == 1
    order = np.argsort(x[present] * direction, kind="stable")
    assert (np.diff(ranks[present][order]) >= 0).all()
    if present.any():
        distinct = len(np.unique(x[present]))
        top = {"min": present.sum() - (x == x[present][order][-1]).sum() + 1, "dense": distinct}
        assert ranks[present].min() == 1 or ties in ("average", "max")
        if ties in top:
            assert ranks[present].max() == top[ties]


@SETTINGS
@given(TIE_PRONE, st.sampled_from([1, -1]), TIES)
def test_percentiles_stay_within_0_and_100_and_reach_them_as_the_ties_say(values, direction, ties):
    x = np.asarray(values, dtype="float64")
    share = column(values, "percentile_share", direction, ties=ties)
    assert within(share, (0, 100)) and (share[~np.isnan(x)] > 0).all()
    out = column(values, "percentile", direction, ties=ties)
    assert within(out, (0, 100))
    if len(np.unique(x[~np.isnan(x)])) > 1:  # the lowest tie ranks 1 under min, the highest n under max
        assert ties not in ("min", "dense") or np.nanmin(out) == 0
        assert ties not in ("max", "dense") or np.nanmax(out) == pytest.approx(100)


@SETTINGS
@given(VALUES, st.sampled_from([1, -1]), SCALES, VALUE, st.floats(1e-3, 1e4))
def test_goalpost_caps_bound_only_the_side_they_name(values, direction, scale, lower, width):
    options = {"goalpost_low": lower, "goalpost_high": lower + width}
    free = column(values, "goalposts", direction, scale, goalpost_cap="none", **options)
    low, high = scale
    for cap, expected in (
        ("both", np.clip(free, low, high)),
        ("low", np.maximum(free, low)),
        ("high", np.minimum(free, high)),
    ):
        out = column(values, "goalposts", direction, scale, goalpost_cap=cap, **options)
        assert np.allclose(out, expected, rtol=1e-9, atol=1e-9 * (high - low), equal_nan=True)


@SETTINGS
@given(st.lists(VALUE, min_size=2, max_size=12), VALUE, SCALES)
def test_dist_target_caps_at_the_upper_bound_and_is_linear_otherwise(values, target, scale):
    assume(target > min(values) + 1e-3)
    free = column(values, "dist_target", 1, scale, target=target)
    capped = column(values, "dist_target", 1, scale, target=target, target_cap=True)
    expected = (np.asarray(values) - min(values)) / (target - min(values)) * scale[1]
    assert np.allclose(free, expected, rtol=1e-9, atol=1e-9)
    assert np.allclose(capped, np.minimum(expected, scale[1]), rtol=1e-9, atol=1e-9)
