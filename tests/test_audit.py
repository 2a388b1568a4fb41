"""PCA of each aggregate's children (COINr's get_PCA) and leave-one-out rank shifts
(COINr's remove_elements), with numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.engine.analysis import audit
from tasks.engine.audit import leave_one_out, principal_components
from tasks.engine.framework import Framework
from tasks.engine.index import compute_index
from tasks.engine.method import Method


def test_pca_of_two_children_correlated_at_0_6():
    # x and y: deviations -1.5 -0.5 0.5 1.5 and -0.5 -1.5 1.5 0.5: r = 3 / 5 = 0.6. Scaled, the
    # correlation matrix [[1, .6], [.6, 1]] has eigenvalues 1.6 and 0.4, eigenvectors (1, 1) / √2
    # and (1, -1) / √2: the first component explains 80 %.
    found = principal_components(pd.DataFrame({"x": [1, 2, 3, 4], "y": [2, 1, 4, 3]}))
    first = found[found["component"] == 1]
    assert first["eigenvalue"].tolist() == pytest.approx([1.6, 1.6])
    assert first["variance_share"].iloc[0] == pytest.approx(0.8)
    assert first["loading"].tolist() == pytest.approx([2**-0.5, 2**-0.5])
    second = found[found["component"] == 2]
    assert second["variance_share"].iloc[0] == pytest.approx(0.2)
    assert second["cumulative_share"].iloc[0] == pytest.approx(1.0)
    assert sorted(np.abs(second["loading"])) == pytest.approx([2**-0.5, 2**-0.5])
    assert (found["units"] == 4).all()


def test_pca_needs_spread_and_complete_rows():
    assert principal_components(pd.DataFrame({"x": [1, 1, 1], "y": [1, 2, 3]})) is None
    assert principal_components(pd.DataFrame({"x": [1, np.nan, 3, 4], "y": [1, 2, np.nan, 3]})) is None


TREE = Framework.from_table(
    pd.DataFrame(
        [("idx", "", 3, 1.0, 1), ("d1", "idx", 2, 1.0, 1), ("d2", "idx", 2, 1.0, 1),
         ("i1", "d1", 1, 1.0, 1), ("i2", "d1", 1, 1.0, 1), ("i3", "d2", 1, 1.0, 1)],
        columns=["code", "parent", "level", "weight", "direction"],
    )
)  # fmt: skip
RAW = pd.DataFrame(
    {"i1": [100.0, 50.0, 0.0], "i2": [0.0, 50.0, 80.0], "i3": [20.0, 40.0, 60.0]},
    index=pd.Index(["A", "B", "C"], name="unit"),
)
SCORES_AS_GIVEN = Method(name="loo", version="1", normalise={"method": "none"})


def test_leave_one_out_by_hand():
    # nominal: d1 = 50, 50, 40; d2 = 20, 40, 60; idx = 35, 45, 50: ranks A 3, B 2, C 1.
    # without i2: d1 = i1, idx = 60, 45, 30: ranks 1, 2, 3; changes (nominal − new) 2, 0, −2.
    # without i3 (or d2): d2 has no weight left and is missing; idx = d1 = 50, 50, 40: ranks
    # 1, 1, 3; changes 2, 1, −2. Without i1: idx = 10, 45, 70, no rank moves; without d1, idx = d2.
    stages = compute_index(RAW, TREE, SCORES_AS_GIVEN)
    table = pd.concat([stages.normalised, stages.aggregated], axis=1)
    summary, per_unit = leave_one_out(table, TREE, SCORES_AS_GIVEN, stages.weights)
    mean = summary.set_index("removed")["mean_abs_rank_change"]
    assert mean.to_dict() == pytest.approx({"i1": 0.0, "i2": 4 / 3, "i3": 5 / 3, "d1": 0.0, "d2": 5 / 3})
    assert summary.set_index("removed")["level"].to_dict() == {"i1": 1, "i2": 1, "i3": 1, "d1": 2, "d2": 2}
    assert per_unit["nominal_rank"].tolist() == [3, 2, 1]
    assert per_unit["i2"].tolist() == [2, 0, -2]
    assert per_unit["d2"].tolist() == [2, 1, -2]


def test_the_audit_tables_of_the_command():
    stages = compute_index(RAW, TREE, SCORES_AS_GIVEN)
    tables = audit(stages, TREE, SCORES_AS_GIVEN)
    assert set(tables) == {"correlations", "pca", "leave_one_out", "leave_one_out_units"}
    pearson = tables["correlations"].query("measure == 'pearson' and node_1 == 'i1' and node_2 == 'i3'")
    assert pearson["value"].iloc[0] == pytest.approx(-1.0)  # i3 falls by 20 as i1 rises by 50
    # d1's children i1, i2: deviations 50, 0, −50 and −130/3, 20/3, 110/3: the sum of products
    # −4000, the sums of squares 5000 and 9800/3. Two children: the first component explains (1 + |r|) / 2.
    assert set(tables["pca"]["node"]) == {"d1", "idx"}
    r = -4000 / np.sqrt(5000 * 9800 / 3)
    first = tables["pca"].query("node == 'd1' and component == 1")
    assert first["variance_share"].iloc[0] == pytest.approx((1 + abs(r)) / 2)


def test_leave_one_out_ranks_are_pandas_ranks():
    from tasks.engine.audit import descending_ranks

    rng = np.random.default_rng(2)
    for _ in range(200):
        values = rng.integers(0, 5, int(rng.integers(0, 40))).astype("float64")
        values[rng.random(len(values)) < 0.2] = np.nan
        values[rng.random(len(values)) < 0.05] = np.inf
        expected = pd.Series(values).rank(ascending=False, method="min").to_numpy()
        np.testing.assert_array_equal(descending_ranks(values, pd.RangeIndex(len(values))), expected)


def test_audit_publishes_the_leave_one_out_tables_first():
    stages = compute_index(RAW, TREE, SCORES_AS_GIVEN)
    parts: list[dict[str, pd.DataFrame]] = []
    tables = audit(stages, TREE, SCORES_AS_GIVEN, publish=parts.append)
    assert [sorted(part) for part in parts] == [["leave_one_out", "leave_one_out_units"]]
    assert parts[0]["leave_one_out"] is tables["leave_one_out"]


def test_results_csv_is_pandas_to_csv_byte_for_byte(tmp_path):
    from tasks.engine.export import write_csv

    table = pd.DataFrame({
        "unit": ["a", "b,c", 'd"e', None], "name": ["x", "y\nz", "", " w "],
        "Time": [2018, 2019, 2020, 2021], "kept": [True, False, True, True],
        "rank": pd.array([1, None, 3, 4], dtype="Int64"),
        "score": [np.nan, np.inf, -0.0, -1e-9], "other": [1e20, -np.inf, 0.5, 2.0000005],
    })  # fmt: skip
    table.to_csv(tmp_path / "pandas.csv", index=False, float_format="%.6f")
    write_csv(table, tmp_path / "ours.csv")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    one = table[["name"]]  # a lone empty field is quoted, by both
    one.to_csv(tmp_path / "pandas.csv", index=False)
    write_csv(one, tmp_path / "ours.csv")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
