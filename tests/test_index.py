import numpy as np
import pandas as pd
import pytest

from tasks.engine.aggregate import a_amean, aggregate
from tasks.engine.framework import Framework
from tasks.engine.index import compute_index, wide_values
from tasks.engine.method import Method
from tasks.engine.normalise import normalise
from tasks.engine.results import rank, top_mean

FRAMEWORK = Framework.from_table(
    pd.DataFrame(
        [("index", "", 3, 1, 1), ("d1", "index", 2, 3, 1), ("d2", "index", 2, 1, 1),
         ("a", "d1", 1, 1, 1), ("b", "d1", 1, 1, -1), ("c", "d2", 1, 1, 1)],
        columns=["code", "parent", "level", "weight", "direction"],
    )
)  # fmt: skip


def test_minmax_with_direction():
    data = pd.DataFrame({"a": [0.0, 5.0, 10.0], "b": [0.0, 5.0, 10.0]})
    out = normalise(data, pd.Series({"a": 1, "b": -1}), "minmax", (0, 100))
    assert out["a"].tolist() == [0, 50, 100]
    assert out["b"].tolist() == [100, 50, 0]
    assert normalise(data, pd.Series({"a": 1, "b": 1}), "minmax", (1, 100))["a"].tolist() == [1, 50.5, 100]


def test_an_indicator_without_spread_is_missing_not_zero():
    out = normalise(pd.DataFrame({"a": [3.0, 3.0]}), pd.Series({"a": 1}))
    assert out["a"].isna().all()


def test_unknown_method_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown normalisation 'softmax'; known: \[.*'minmax'.*\]"):
        normalise(pd.DataFrame({"a": [1.0]}), pd.Series({"a": 1}), "softmax")


def test_weighted_mean_renormalises_over_present_children():
    values = np.array([[10.0, 20.0], [10.0, np.nan]])
    assert a_amean(values, np.array([1.0, 3.0])).tolist() == [17.5, 10.0]


def test_aggregate_level_by_level_and_min_share():
    normalised = pd.DataFrame({"a": [100.0, 0.0], "b": [50.0, np.nan], "c": [0.0, np.nan]})
    out = aggregate(normalised, FRAMEWORK, "arithmetic", min_share=0.5)
    assert out.loc[0, "d1"] == 75.0 and out.loc[0, "d2"] == 0.0
    assert out.loc[0, "index"] == pytest.approx(75.0 * 0.75)
    assert out.loc[1, "d1"] == 0.0  # half the weight present: kept
    assert np.isnan(out.loc[1, "d2"])  # nothing present
    assert out.loc[1, "index"] == 0.0  # d1 carries 75 % of the weight
    strict = aggregate(normalised, FRAMEWORK, "arithmetic", min_share=0.8)
    assert np.isnan(strict.loc[1, "d1"]) and np.isnan(strict.loc[1, "index"])


def test_ties_share_the_better_rank():
    ranks = rank(pd.DataFrame({"x": [50.0, 70.0, 50.0, np.nan, 10.0]}))["x"]
    assert ranks.tolist() == [2, 1, 2, pd.NA, 4]


def test_compute_index_keeps_every_stage_and_a_long_score_table():
    values = pd.DataFrame(
        {"city_code": ["P", "P", "P", "Q", "Q", "Q", "R"], "indicator": ["a", "b", "c"] * 2 + ["a"],
         "value": [1.0, 5.0, 2.0, 3.0, 1.0, 4.0, 2.0]}
    )  # fmt: skip
    raw = wide_values(values, FRAMEWORK, ["P", "Q", "R"])
    # R has one indicator of three: the default screening (2/3 available) would drop it.
    assert list(compute_index(raw, FRAMEWORK, Method(name="t", version="1")).aggregated.index) == ["P", "Q"]
    method = Method.model_validate({"name": "t", "version": "1", "screen": {"min_availability": 0.3}})
    stages = compute_index(raw, FRAMEWORK, method)
    assert stages.normalised.loc["P", "b"] == 0.0  # direction -1: the highest b is worst
    assert stages.normalised.loc["Q", "b"] == 100.0
    assert stages.aggregated.loc["P", "index"] == 0.0
    assert stages.aggregated.loc["Q", "index"] == 100.0
    # R has only `a` (50): d1 keeps half its weight, d2 is missing, the index renormalises.
    assert stages.aggregated.loc["R", "d1"] == 50.0 and np.isnan(stages.aggregated.loc["R", "d2"])
    assert stages.aggregated.loc["R", "index"] == 50.0
    scores = stages.scores
    assert len(scores) == 3 * 6
    q = scores[(scores["city_code"] == "Q") & (scores["node"] == "a")].iloc[0]
    assert q["raw_value"] == 3.0 and q["score"] == 100.0 and q["rank"] == 1
    assert (scores.loc[scores["node"] == "index", "weight_in_index"] == 1).all()
    assert scores["rank"].dtype == "Int64"
    assert top_mean(stages.aggregated["index"], 2) == pytest.approx(
        stages.aggregated["index"].nlargest(2).mean()
    )
