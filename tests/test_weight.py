import numpy as np
import pandas as pd
import pytest

from tasks.engine.aggregate import aggregate
from tasks.engine.framework import Framework
from tasks.engine.weight import (
    effective_weights,
    equal_weights,
    first_component_weights,
    framework_weights,
    pca_weights,
)


def framework(rows):
    return Framework.from_table(
        pd.DataFrame(rows, columns=["code", "parent", "level", "weight", "direction"])
    )


TREE = framework(
    [("index", "", 3, 1, 1), ("d1", "index", 2, 3, 1), ("d2", "index", 2, 1, 1),
     ("a", "d1", 1, 2, 1), ("b", "d1", 1, 6, -1), ("c", "d2", 1, 5, 1)]
)  # fmt: skip


def test_framework_weights_are_relative_within_their_parent():
    weights = framework_weights(TREE)
    assert weights.to_dict() == pytest.approx(
        {"index": 1, "d1": 0.75, "d2": 0.25, "a": 0.25, "b": 0.75, "c": 1}
    )


def test_equal_weights():
    assert equal_weights(TREE).to_dict() == pytest.approx(
        {"index": 1, "d1": 0.5, "d2": 0.5, "a": 0.5, "b": 0.5, "c": 1}
    )


def test_effective_weights_multiply_relative_weights_up_the_tree():
    assert effective_weights(TREE).to_dict() == pytest.approx(TREE.effective_weights().to_dict())
    assert effective_weights(TREE).to_dict() == pytest.approx(
        {"index": 1, "d1": 0.75, "d2": 0.25, "a": 0.1875, "b": 0.5625, "c": 0.25}
    )
    # raw weights are renormalised within their parent first
    custom = pd.Series({"index": 7.0, "d1": 1.0, "d2": 3.0, "a": 1.0, "b": 1.0, "c": 2.0})
    assert effective_weights(TREE, custom).to_dict() == pytest.approx(
        {"index": 1, "d1": 0.25, "d2": 0.75, "a": 0.125, "b": 0.125, "c": 0.75}
    )
    assert effective_weights(TREE, equal_weights(TREE))[["a", "b", "c"]].sum() == pytest.approx(1)


def test_first_component_of_two_proportional_children():
    # b = a / 2 + 10: covariance [[4, 2], [2, 1]] * var(a), first component (2, 1) / sqrt(5)
    a = np.array([0.0, 10.0, 20.0, 40.0, 70.0])
    weights = first_component_weights(np.column_stack([a, a / 2 + 10]))
    assert weights == pytest.approx([0.8, 0.2])
    assert first_component_weights(np.column_stack([a, -a])) == pytest.approx([0.5, 0.5])  # sign-free


def test_pca_gives_the_child_carrying_all_the_variance_nearly_all_the_weight():
    rng = np.random.default_rng(7)
    n = 200
    tree = framework(
        [("index", "", 3, 1, 1), ("d1", "index", 2, 1, 1), ("d2", "index", 2, 1, 1),
         ("a", "d1", 1, 1, 1), ("b", "d1", 1, 1, 1), ("c", "d1", 1, 1, 1), ("e", "d2", 1, 1, 1)]
    )  # fmt: skip
    scores = pd.DataFrame(
        {"a": rng.uniform(0, 100, n), "b": 50 + rng.normal(0, 0.1, n), "c": 20 + rng.normal(0, 0.1, n),
         "e": rng.uniform(0, 100, n)}
    )  # fmt: skip
    scores.iloc[:5, 1] = np.nan  # incomplete cases are left out
    weights = pca_weights(scores, tree)
    assert weights["a"] > 0.999 and weights["b"] < 0.001 and weights["c"] < 0.001
    assert weights[["a", "b", "c"]].sum() == pytest.approx(1)
    assert weights["e"] == 1 and weights["index"] == 1  # a single child keeps all its parent's weight
    assert weights[["d1", "d2"]].sum() == pytest.approx(1)
    # the dimensions' scores are the arithmetic means under the weights found below
    d1 = aggregate(scores, tree, weights=weights)["d1"]
    d = np.column_stack([d1, scores["e"]])
    assert weights[["d1", "d2"]].tolist() == pytest.approx(first_component_weights(d))


def test_pca_keeps_equal_weights_without_enough_complete_cases_or_variance():
    scores = pd.DataFrame(
        {"a": [1.0, 2.0, np.nan, 4.0], "b": [1.0, np.nan, 3.0, 5.0], "c": [1.0, 2.0, 3.0, 4.0]}
    )
    weights = pca_weights(scores, TREE)  # a, b: 2 complete cases < 3
    assert weights[["a", "b"]].tolist() == [0.5, 0.5]
    flat = pd.DataFrame({"a": [3.0] * 5, "b": [1.0] * 5, "c": [1.0, 2.0, 3.0, 4.0, 5.0]})
    assert pca_weights(flat, TREE)[["a", "b"]].tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"no scores for 'c' \(a child of 'd2'\)"):
        pca_weights(scores[["a", "b"]], TREE)
