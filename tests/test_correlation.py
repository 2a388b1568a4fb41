"""The correlation checks against hand-computed values and COINr's flag rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.engine.correlation import (
    correlation_matrix,
    cronbach_alpha,
    flag,
    node_correlations,
    square,
)


def long_scores() -> pd.DataFrame:
    wide = {
        "index": [10.0, 20, 30, 40, 50],
        "dim_a": [1.0, 2, 3, 4, 5],
        "dim_b": [5.0, 4, 3, 2, 1],
        "a1": [1.0, 2, 3, 4, 5],
        "a2": [2.0, 4, 6, 8, 11],
        "b1": [5.0, 3, 4, 1, 2],
        "b2": [1.0, 2, 3, 5, 4],
    }
    meta = {"index": (3, ""), "dim_a": (2, "index"), "dim_b": (2, "index"),
            "a1": (1, "dim_a"), "a2": (1, "dim_a"), "b1": (1, "dim_b"), "b2": (1, "dim_b")}  # fmt: skip
    rows = [
        {"city_code": f"C{i}", "node": node, "level": meta[node][0], "parent": meta[node][1], "score": v}
        for node, values in wide.items()
        for i, v in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_cronbach_alpha_matches_the_formula():
    items = pd.DataFrame({"x": [1.0, 2, 3, 4], "y": [2.0, 3, 3, 5], "z": [1.0, 1, 2, 2]})
    k, total = 3, items.sum(axis=1).var()
    assert cronbach_alpha(items) == pytest.approx(k / (k - 1) * (1 - items.var().sum() / total))
    assert np.isnan(cronbach_alpha(items[["x"]]))
    assert np.isnan(cronbach_alpha(pd.DataFrame({"x": [1.0, 1], "y": [2.0, 2]})))


def test_flags_only_siblings_beyond_the_thresholds():
    assert flag(0.95, True) == "near-duplicate"
    assert flag(-0.95, True) == "negative"
    assert flag(-0.5, True) == "negative"
    assert flag(-0.5, False) == ""
    assert flag(0.3, True) == ""
    assert flag(float("nan"), True) == ""


def test_node_correlations_cover_every_pair_under_both_methods():
    out = node_correlations(long_scores())
    pairs = out[out["measure"] != "cronbach_alpha"]
    assert len(pairs) == 2 * (7 * 6 // 2)
    pearson = pairs[pairs["measure"] == "pearson"].set_index(["node_1", "node_2"])["value"]
    assert pearson[("a1", "a2")] == pytest.approx(np.corrcoef([1, 2, 3, 4, 5], [2, 4, 6, 8, 11])[0, 1])
    flags = out.set_index(["measure", "node_1", "node_2"])["flag"]
    assert flags[("pearson", "a1", "a2")] == "near-duplicate"
    assert flags[("spearman", "dim_a", "dim_b")] == "negative"  # siblings, r = -1
    assert flags[("pearson", "b1", "b2")] == "negative"
    assert flags[("pearson", "a1", "b1")] == ""  # not siblings
    alpha = out[out["measure"] == "cronbach_alpha"].set_index("node_1")["value"]
    assert set(alpha.index) == {"index", "dim_a", "dim_b"}
    assert alpha["dim_a"] > 0.8 > 0 > alpha["dim_b"]


def test_square_rebuilds_the_matrix():
    scores = long_scores()
    out = node_correlations(scores)
    nodes = ["a1", "a2", "b1"]
    wide = scores.pivot(index="city_code", columns="node", values="score")[nodes]
    pd.testing.assert_frame_equal(square(out, "spearman", nodes), correlation_matrix(wide, "spearman"),
                                  check_names=False)  # fmt: skip
    with pytest.raises(ValueError, match="unknown correlation method"):
        correlation_matrix(wide, "kendall-ish")
