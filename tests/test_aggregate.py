import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.engine.aggregate import AGGREGATORS, a_gmean, a_hmean, a_pmean, aggregate
from tasks.engine.framework import Framework
from tasks.engine.normalise import normalise

ASEM = Path(__file__).parent / "data" / "coinr_asem"


def framework(rows):
    return Framework.from_table(
        pd.DataFrame(rows, columns=["code", "parent", "level", "weight", "direction"])
    )


# index -> d1 (weight 2): a (1), b (3); d2 (weight 1): c (1), e (1)
TREE = framework(
    [("index", "", 3, 1, 1), ("d1", "index", 2, 2, 1), ("d2", "index", 2, 1, 1),
     ("a", "d1", 1, 1, 1), ("b", "d1", 1, 3, 1), ("c", "d2", 1, 1, 1), ("e", "d2", 1, 1, 1)]
)  # fmt: skip
SCORES = pd.DataFrame(
    {"a": [40.0, 40.0, np.nan, 100.0], "b": [80.0, np.nan, np.nan, np.nan],
     "c": [30.0, 30.0, np.nan, np.nan], "e": [60.0, np.nan, np.nan, np.nan]},
    index=pd.Index(["U1", "U2", "U3", "U4"], name="unit"),
)  # fmt: skip


def test_the_registry_names_every_mean():
    assert sorted(AGGREGATORS) == ["arithmetic", "geometric", "harmonic", "power"]


def test_a_published_index_shape_goalposts_log_arithmetic_within_geometric_across():
    """HDI-like: fixed goalposts with caps, log10 income, 0-1 scale, geometric across dimensions."""
    tree = framework(
        [("index", "", 3, 1, 1), ("health", "index", 2, 1, 1), ("wealth", "index", 2, 1, 1),
         ("life", "health", 1, 1, 1), ("mort", "health", 1, 1, -1),
         ("gni", "wealth", 1, 1, 1), ("school", "wealth", 1, 1, 1)]
    )  # fmt: skip
    raw = pd.DataFrame(
        {"life": [85, 52.5, 90, 46, 20], "mort": [0, 50, 120, 80, 100],
         "gni": [1e5, 1000, 1e6, 1e4, 1e4], "school": [15, 5, 7.5, 3, 15]},
        index=pd.Index(list("ABCDE"), name="country"), dtype="float64",
    )  # fmt: skip
    settings = pd.DataFrame(
        {"normalise": "goalposts", "goalpost_low": [20, 0, 100, 0], "goalpost_high": [85, 100, 1e5, 15],
         "transform": ["", "", "log10", ""]},
        index=["life", "mort", "gni", "school"],
    )  # fmt: skip
    normalised = normalise(raw, tree.column("direction"), "minmax", (0, 1), settings=settings)
    expected = pd.DataFrame(
        {"life": [1, 0.5, 1, 0.4, 0], "mort": [1, 0.5, 0, 0.2, 0],
         "gni": [1, 1 / 3, 1, 2 / 3, 2 / 3], "school": [1, 1 / 3, 0.5, 0.2, 1]},
        index=raw.index,
    )  # fmt: skip
    pd.testing.assert_frame_equal(normalised, expected, check_dtype=False, atol=1e-12)

    with pytest.raises(ValueError, match=r"geometric mean of node 'index': unit 'E' has child 'health' = 0"):
        aggregate(normalised, tree, "arithmetic", by_level={3: "geometric"})
    scores = aggregate(normalised.drop(index="E"), tree, "arithmetic", by_level={3: "geometric"})
    assert scores["health"].tolist() == pytest.approx([1, 0.5, 0.5, 0.3])
    assert scores["wealth"].tolist() == pytest.approx([1, 1 / 3, 0.75, 13 / 30])
    assert scores["index"].tolist() == pytest.approx(
        [1, math.sqrt(0.5 / 3), math.sqrt(0.375), math.sqrt(0.3 * 13 / 30)]
    )
    assert list(scores.columns) == ["health", "wealth", "index"]


def test_hierarchical_weighted_means_renormalise_over_present_children():
    normalised = normalise(SCORES, TREE.column("direction"), "none")
    pd.testing.assert_frame_equal(normalised, SCORES)
    out = aggregate(normalised, TREE)
    assert out.loc["U1"].tolist() == pytest.approx([70, 45, 185 / 3])  # (40 + 3 * 80) / 4; (2 * 70 + 45) / 3
    assert out.loc["U2"].tolist() == pytest.approx([40, 30, 110 / 3])  # b and e missing: renormalised
    assert out.loc["U3"].isna().all()
    assert out.loc["U4", "d1"] == 100 and np.isnan(out.loc["U4", "d2"]) and out.loc["U4", "index"] == 100
    # min_share 0.3: U2's d1 keeps 1/4 of its weight (missing), d2 1/2 (kept); the index keeps d2's 1/3
    strict = aggregate(normalised, TREE, min_share=0.3)
    assert (
        np.isnan(strict.loc["U2", "d1"]) and strict.loc["U2", "d2"] == 30 and strict.loc["U2", "index"] == 30
    )
    assert np.isnan(strict.loc["U4", "d1"]) and np.isnan(strict.loc["U4", "index"])
    assert np.isnan(aggregate(normalised, TREE, min_share=0.5).loc["U2", "index"])  # 1/3 < 1/2
    assert strict.loc["U1"].tolist() == pytest.approx([70, 45, 185 / 3])


def test_weighted_geometric_harmonic_and_power_means():
    values = np.array([[40.0, 80.0], [10.0, np.nan]])
    weights = np.array([1.0, 3.0])
    assert a_gmean(values, weights) == pytest.approx([40**0.25 * 80**0.75, 10])
    assert a_hmean(values, weights) == pytest.approx([4 / (1 / 40 + 3 / 80), 10])
    assert a_pmean(values, weights, power=2) == pytest.approx([math.sqrt((1600 + 3 * 6400) / 4), 10])
    assert a_pmean(values, weights, power=-1) == pytest.approx(a_hmean(values, weights))
    assert a_pmean(values, weights, power=0) == pytest.approx(a_gmean(values, weights))
    assert a_pmean(values, weights, power=1).tolist() == [70, 10]
    zero = np.array([[0.0, 4.0], [0.0, np.nan]])
    assert a_pmean(zero, np.array([1.0, 1.0]), power=2) == pytest.approx([np.sqrt(8), 0])
    assert a_pmean(zero, np.array([1.0, 1.0]), power=0.5) == pytest.approx([1, 0])


def test_power_one_equals_arithmetic_and_power_two_is_the_quadratic_mean():
    data = SCORES.iloc[:1]
    assert aggregate(data, TREE, "power", power=1.0).equals(aggregate(data, TREE))
    out = aggregate(data, TREE, "power", power=2.0)
    assert out.loc["U1", "d2"] == pytest.approx(math.sqrt((30**2 + 60**2) / 2))


def test_a_method_per_node_differs_within_one_level():
    data = SCORES.iloc[:1]
    out = aggregate(data, TREE, "arithmetic", by_node={"d2": "geometric"})
    assert out.loc["U1", "d1"] == 70 and out.loc["U1", "d2"] == pytest.approx(math.sqrt(30 * 60))
    # the node wins over its level: d2 harmonic by level, d1 arithmetic by node
    out = aggregate(
        data, TREE, "geometric", by_level={2: "harmonic", 3: "arithmetic"}, by_node={"d1": "arithmetic"}
    )
    assert out.loc["U1"].tolist() == pytest.approx([70, 40, (2 * 70 + 40) / 3])


def test_geometric_on_a_zero_names_node_and_unit_and_an_offset_shifts_it():
    data = SCORES.iloc[:2].assign(c=[30.0, 0.0])
    with pytest.raises(ValueError, match=r"geometric mean of node 'd2': unit 'U2' has child 'c' = 0"):
        aggregate(data, TREE, by_node={"d2": "geometric"})
    with pytest.raises(ValueError, match=r"harmonic mean of node 'd1'"):
        aggregate(data.assign(a=[-1.0, 1.0]), TREE, "harmonic")
    out = aggregate(data, TREE, by_node={"d2": "geometric"}, offset=1.0)
    assert out.loc["U2", "d2"] == pytest.approx(0.0)  # only c (0) present: (0 + 1) - 1
    assert out.loc["U1", "d2"] == pytest.approx(math.sqrt(31 * 61) - 1)
    assert out.loc["U1", "d1"] == pytest.approx(70)  # the arithmetic mean is unchanged by a shift
    with pytest.raises(ValueError, match=r"unit 'U2' has child 'c' = -0.5.* after the offset"):
        aggregate(data, TREE, "geometric", offset=-0.5)


def test_weights_override_the_framework_per_parent():
    data = SCORES.iloc[:1]
    out = aggregate(data, TREE, weights=pd.Series({"a": 3.0, "b": 1.0}))
    assert out.loc["U1", "d1"] == 50 and out.loc["U1", "d2"] == 45
    assert out.loc["U1", "index"] == pytest.approx((2 * 50 + 45) / 3)
    out = aggregate(data, TREE, weights=pd.Series({"d1": 0.5, "d2": 0.5, "a": 0.5, "b": 0.5}))
    assert out.loc["U1"].tolist() == pytest.approx([60, 45, 52.5])
    with pytest.raises(ValueError, match=r"weights for the children of 'd1' are incomplete: missing \['b'\]"):
        aggregate(data, TREE, weights=pd.Series({"a": 1.0}))


def test_unknown_methods_and_nodes_are_refused():
    with pytest.raises(ValueError, match=r"unknown aggregation 'median'; known: \['arithmetic', 'geometric'"):
        aggregate(SCORES, TREE, by_level={2: "median"})
    with pytest.raises(ValueError, match=r"by_node names nodes that are not aggregates: \['a', 'zz'\]"):
        aggregate(SCORES, TREE, by_node={"a": "geometric", "zz": "geometric"})
    with pytest.raises(ValueError, match=r"no scores for the indicators \['e'\]"):
        aggregate(SCORES.drop(columns="e"), TREE)


def test_coinr_asem_normalised_to_aggregated_matches_the_published_stage():
    meta = pd.read_csv(ASEM / "ASEM_iMeta.csv")
    meta = meta[meta["Type"].isin(["Indicator", "Aggregate"])]
    tree = Framework.from_table(
        pd.DataFrame(
            {"code": meta["iCode"], "parent": meta["Parent"], "level": meta["Level"].astype(int),
             "weight": meta["Weight"], "direction": meta["Direction"].astype(int)}
        )
    )  # fmt: skip
    normalised = pd.read_csv(ASEM / "ASEM_COIN_Normalised.csv", index_col="UnitCode")[tree.indicators]
    published = pd.read_csv(ASEM / "ASEM_COIN_Aggregated.csv", index_col="UnitCode")
    out = aggregate(normalise(normalised, tree.column("direction"), "none"), tree)
    pd.testing.assert_frame_equal(out, published[out.columns], check_names=False, atol=1e-6, rtol=0)
    assert out["Index"].nlargest(3).round(2).tolist() == [68.38, 64.82, 64.80]


def test_a_power_mean_with_a_subnormal_exponent_is_the_geometric_mean():
    # p -> 0: exp((2 ln 2 + 1 ln 4) / 3) = 2^(4/3); found by hypothesis at p = 5e-324
    out = AGGREGATORS["power"](np.array([[2.0, 4.0]]), np.array([2.0, 1.0]), power=5e-324)
    assert out[0] == pytest.approx(2 ** (4 / 3), rel=1e-12)
