"""`strengths_weaknesses` (numpy sort keys) against the plain pandas statement of its rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.engine.results import strengths_weaknesses


def reference(scores_long: pd.DataFrame, n: int, keys: list[str]) -> pd.DataFrame:
    """Sort by unit, rank and node (worst: rank descending), keep each unit's first n of each."""
    rows = scores_long[scores_long["level"] == 1]
    rows = rows[rows["rank"].notna()][[*keys, "node", "rank", "score"]]
    best = rows.sort_values([*keys, "rank", "node"], kind="stable")
    descending = [True] * len(keys) + [False, True]
    worst = rows.sort_values([*keys, "rank", "node"], ascending=descending, kind="stable")
    strengths = best.groupby(keys, sort=False).head(n).assign(kind="strength")
    weaknesses = worst.groupby(keys, sort=False).head(n).assign(kind="weakness")
    out = pd.concat([strengths, weaknesses], ignore_index=True)
    out["_order"] = out.groupby([*keys, "kind"]).cumcount()
    out = out.sort_values([*keys, "kind", "_order"], kind="stable")
    return out[[*keys, "kind", "node", "rank", "score"]].reset_index(drop=True)


@st.composite
def long_tables(draw) -> pd.DataFrame:
    rows = []
    for unit in draw(st.lists(st.sampled_from(["B", "A", "C", "AA"]), min_size=1, max_size=4, unique=True)):
        for period in draw(st.lists(st.sampled_from([2020, 2019]), min_size=1, max_size=2, unique=True)):
            nodes = draw(st.lists(st.sampled_from(["z", "x", "y", "w", "x2"]), max_size=5, unique=True))
            for node in nodes:
                rank = draw(st.one_of(st.none(), st.integers(1, 3)))
                level = draw(st.sampled_from([1, 1, 2]))
                rows.append((unit, period, node, level, rank, draw(st.floats(0, 100))))
    table = pd.DataFrame(rows, columns=["unit", "Time", "node", "level", "rank", "score"])
    return table.astype({"rank": "Int64", "level": "int64"})


@settings(max_examples=200, deadline=None)
@given(long_tables(), st.integers(1, 3))
def test_strengths_weaknesses_follow_the_sorting_rule(table, n):
    pd.testing.assert_frame_equal(strengths_weaknesses(table, n, unit=["unit", "Time"]),
                                  reference(table, n, ["unit", "Time"]))  # fmt: skip
    one = table[table["Time"] == table["Time"].iloc[0]].drop(columns="Time") if len(table) else table
    pd.testing.assert_frame_equal(strengths_weaknesses(one, n, unit="unit"), reference(one, n, ["unit"]))


def test_strengths_at_size():
    rng = np.random.default_rng(4)
    units, nodes = [f"U{k:04d}" for k in range(300)], [f"i{k:02d}" for k in range(40)]
    rows = [(u, c, 1, int(rng.integers(1, 50)), rng.random()) for u in units for c in nodes]
    table = pd.DataFrame(rows, columns=["unit", "node", "level", "rank", "score"]).astype({"rank": "Int64"})
    table.loc[rng.random(len(table)) < 0.05, "rank"] = pd.NA
    table = table.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(strengths_weaknesses(table, 3, unit="unit"), reference(table, 3, ["unit"]))
