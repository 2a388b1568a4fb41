"""The correlation checks against hand-computed values and COINr's flag rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_spearman_worked_by_hand():
    nan = np.nan
    wide = pd.DataFrame({
        "x": [1.0, 2, 2, nan, 5],
        "y": [3.0, nan, 1, 4, 2],
        "z": [2.0, 7, 2, 9, nan],
        "w": [nan, nan, nan, 1, 3],
        "v": [nan, nan, nan, nan, 3],
        "c": [4.0, 4, 4, 4, 4],
    })  # fmt: skip
    out = correlation_matrix(wide, "spearman")
    # x, y on rows 0, 2, 4: x's tie (rows 1, 2) is broken by y's gap, ranks (1, 2, 3) and (3, 1, 2)
    assert out.at["x", "y"] == pytest.approx(-0.5, abs=1e-15)
    # x, z on rows 0-2: ranks (1, 2.5, 2.5) and (1.5, 3, 1.5): 0.75 / sqrt(1.5 x 1.5)
    assert out.at["x", "z"] == pytest.approx(0.5, abs=1e-15)
    assert out.at["y", "w"] == -1.0  # two common rows are enough (pandas' min_periods is 1)
    assert np.isnan(out.at["v", "x"]) and np.isnan(out.at["v", "v"])  # one row
    assert np.isnan(out.at["c", "x"]) and np.isnan(out.at["c", "c"])  # no spread
    assert out.at["x", "x"] == 1.0 and out.at["w", "w"] == 1.0
    assert out.equals(out.T)


@st.composite
def frames(draw) -> pd.DataFrame:
    """Small frames full of what breaks rankings: ties, gaps, constant and nearly empty columns."""
    rows = draw(st.integers(0, 25))
    columns = {}
    for k in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["ties", "floats", "constant", "sparse"]))
        value = {"ties": st.integers(0, 3).map(float), "floats": st.floats(-1e6, 1e6, allow_nan=False),
                 "constant": st.just(7.0), "sparse": st.integers(0, 9).map(float)}[kind]  # fmt: skip
        gap = {"sparse": 0.9}.get(kind, draw(st.sampled_from([0.0, 0.1, 0.4])))
        cells = draw(st.lists(st.tuples(value, st.floats(0, 1)), min_size=rows, max_size=rows))
        columns[f"c{k}"] = [np.nan if u < gap else v for v, u in cells]
    return pd.DataFrame(columns, index=range(rows), dtype="float64")


@settings(max_examples=300, deadline=None)
@given(frames())
def test_spearman_equals_pandas_pairwise_ranking(wide):
    expected = wide.corr(method="spearman")
    pd.testing.assert_frame_equal(correlation_matrix(wide, "spearman"), expected, rtol=0, atol=1e-12)


def test_spearman_equals_pandas_at_size_with_gaps():
    rng = np.random.default_rng(3)
    values = rng.lognormal(size=(2000, 12))
    values[:, :4] = np.round(values[:, :4], 1)  # many ties
    values[rng.random(values.shape) < 0.05] = np.nan
    values[:, 11] = np.where(np.isnan(values[:, 11]), np.nan, 1.0)
    wide = pd.DataFrame(values, columns=[f"n{k}" for k in range(12)])
    expected = wide.corr(method="spearman")
    pd.testing.assert_frame_equal(correlation_matrix(wide, "spearman"), expected, rtol=0, atol=1e-12)
    complete = wide.iloc[:, :11].fillna(0.0)
    pd.testing.assert_frame_equal(correlation_matrix(complete, "spearman"), complete.corr(method="spearman"),
                                  rtol=0, atol=1e-12)  # fmt: skip


def test_spearman_with_infinite_values_is_pandas():
    wide = pd.DataFrame(
        {"x": [1.0, -np.inf, 3, 4, np.nan], "y": [2.0, 1, np.inf, 3, 5], "z": [1.0, 2, 3, 1, 2]}
    )
    pd.testing.assert_frame_equal(correlation_matrix(wide, "spearman"), wide.corr(method="spearman"))


def test_spearman_in_blocks_of_columns_is_the_same(monkeypatch):
    """Blocks of one, a few and all the columns: the same exact sums, the same bits."""
    from tasks.engine import spearman

    rng = np.random.default_rng(8)
    values = np.round(rng.normal(size=(300, 9)), 1)
    values[rng.random(values.shape) < 0.1] = np.nan
    values[:, 0] = rng.normal(size=300)  # one complete column
    whole = spearman.spearman_matrix(values)
    for cells in (1, 3 * 301, 7 * 301):
        monkeypatch.setattr(spearman, "CHUNK_CELLS", cells)
        assert spearman.spearman_matrix(values).tobytes() == whole.tobytes()
    expected = pd.DataFrame(values).corr(method="spearman").to_numpy()
    np.testing.assert_allclose(whole, expected, rtol=0, atol=1e-12)
