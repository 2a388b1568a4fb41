import numpy as np
import pandas as pd
import pytest

from tasks.engine.aggregate import aggregate
from tasks.engine.framework import Framework
from tasks.engine.results import contributions, rank, score_table, strengths_weaknesses

# index -> d1 (weight 2): a (1), b (3); d2 (weight 1): c (1), e (1)
TREE = Framework.from_table(
    pd.DataFrame(
        [("index", "", 3, 1, 1), ("d1", "index", 2, 2, 1), ("d2", "index", 2, 1, 1),
         ("a", "d1", 1, 1, 1), ("b", "d1", 1, 3, 1), ("c", "d2", 1, 1, 1), ("e", "d2", 1, 1, 1)],
        columns=["code", "parent", "level", "weight", "direction"],
    )
)  # fmt: skip
SCORES = pd.DataFrame(
    {"a": [40.0, 40.0, 100.0, np.nan], "b": [80.0, np.nan, np.nan, np.nan],
     "c": [30.0, 30.0, np.nan, np.nan], "e": [60.0, np.nan, np.nan, np.nan]},
    index=pd.Index(["U1", "U2", "U3", "U4"], name="city_code"),
)  # fmt: skip


def test_contributions_of_the_dimensions_sum_to_the_arithmetic_index():
    both = pd.concat([SCORES, aggregate(SCORES, TREE)], axis=1)
    out = contributions(both, TREE)
    assert list(out.columns) == ["d1", "d2"]
    assert out.loc["U1"].tolist() == pytest.approx([2 / 3 * 70, 1 / 3 * 45])
    assert out.loc["U2"].tolist() == pytest.approx([2 / 3 * 40, 1 / 3 * 30])
    assert out.loc["U3", "d1"] == 100 and np.isnan(out.loc["U3", "d2"])  # d2 missing: d1 carries it all
    assert out.loc["U4"].isna().all()
    assert out.sum(axis=1, min_count=1).tolist()[:3] == pytest.approx(both["index"].tolist()[:3])
    custom = pd.Series({"d1": 1.0, "d2": 3.0, "a": 1.0, "b": 1.0, "c": 1.0, "e": 1.0})
    reweighted = pd.concat([SCORES, aggregate(SCORES, TREE, weights=custom)], axis=1)
    out = contributions(reweighted, TREE, custom)
    assert out.loc["U1"].tolist() == pytest.approx([0.25 * 60, 0.75 * 45])
    assert out.sum(axis=1).loc["U1"] == pytest.approx(reweighted.loc["U1", "index"])


def test_contributions_are_missing_where_the_index_is():
    both = pd.concat([SCORES, aggregate(SCORES, TREE, min_share=0.5)], axis=1)
    assert np.isnan(both.loc["U2", "index"])  # d1 has a quarter of its weight; d2 (half) alone is 1/3
    out = contributions(both, TREE)
    assert out.loc["U2"].isna().all() and out.loc["U1"].sum() == pytest.approx(185 / 3)


def test_strengths_and_weaknesses_by_rank():
    long = pd.DataFrame(
        {"city_code": ["P"] * 6 + ["Q"] * 3,
         "node": ["a", "b", "c", "e", "f", "d1", "a", "b", "c"],
         "level": [1, 1, 1, 1, 1, 2, 1, 1, 1],
         "rank": pd.array([3, 1, 5, 2, None, 1, 1, 2, 2], dtype="Int64"),
         "score": [50.0, 90.0, 10.0, 70.0, np.nan, 99.0, 80.0, 40.0, 40.0]}
    )  # fmt: skip
    out = strengths_weaknesses(long, n=2)
    assert list(out.columns) == ["city_code", "kind", "node", "rank", "score"]
    assert out.values.tolist() == [
        ["P", "strength", "b", 1, 90.0], ["P", "strength", "e", 2, 70.0],
        ["P", "weakness", "c", 5, 10.0], ["P", "weakness", "a", 3, 50.0],
        ["Q", "strength", "a", 1, 80.0], ["Q", "strength", "b", 2, 40.0],
        ["Q", "weakness", "b", 2, 40.0], ["Q", "weakness", "c", 2, 40.0],
    ]  # fmt: skip


def test_strengths_and_weaknesses_from_a_score_table():
    raw = pd.DataFrame(
        {"a": [40.0, 50.0, 10.0], "b": [80.0, 70.0, 75.0], "c": [30.0, 20.0, 40.0], "e": [60.0, 90.0, 50.0]},
        index=pd.Index(["U1", "U2", "U3"], name="city_code"),
    )
    table = score_table(raw, raw, aggregate(raw, TREE), TREE)
    # ranks among the units: U1 a2 b1 c2 e2; U2 a1 b3 c3 e1; U3 a3 b2 c1 e3 (ties by node code)
    out = strengths_weaknesses(table, n=1)
    assert out.values.tolist() == [
        ["U1", "strength", "b", 1, 80.0], ["U1", "weakness", "a", 2, 40.0],
        ["U2", "strength", "a", 1, 50.0], ["U2", "weakness", "b", 3, 70.0],
        ["U3", "strength", "c", 1, 40.0], ["U3", "weakness", "a", 3, 10.0],
    ]  # fmt: skip
    assert set(strengths_weaknesses(table)["node"]) <= {"a", "b", "c", "e"}  # indicators only


def test_score_table_matches_a_plain_stack_in_row_order():
    raw = SCORES.assign(a=[40.0, 40.0, 100.0, 40.0])
    aggregated = aggregate(raw, TREE)
    table = score_table(raw * 10, raw, aggregated, TREE)
    scores = pd.concat([raw, aggregated], axis=1)
    ranks = rank(scores)
    assert len(table) == 4 * 7 and table["rank"].dtype == "Int64"
    assert table["node"].unique().tolist() == ["index", "d1", "d2", "a", "b", "c", "e"]
    for row in table.itertuples():
        assert row.score == scores.loc[row.city_code, row.node] or np.isnan(row.score)
        expected = ranks.loc[row.city_code, row.node]
        assert (row.rank is pd.NA and expected is pd.NA) or row.rank == expected
    a = table[table["node"] == "a"]
    assert a["city_code"].tolist() == ["U3", "U1", "U2", "U4"]  # rank 1, then the tie at 2 by unit
    assert a["rank"].tolist() == [1, 2, 2, 2] and a["raw_value"].tolist() == [1000, 400, 400, 400]
    b = table[table["node"] == "b"]
    assert b["rank"].tolist()[0] == 1 and b["rank"].isna().sum() == 3  # missing ranks last
    assert table.loc[table["node"] == "index", "weight_in_index"].eq(1).all()
    level, parent, weight = table.loc[table["node"] == "b", ["level", "parent", "weight_in_index"]].iloc[0]
    assert (level, parent, weight) == (1, "d1", pytest.approx(2 / 3 * 3 / 4))
