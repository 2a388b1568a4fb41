"""What changed between two scorings: against the previously published edition (rank moves and
what drove them), or between any two outputs of `coopindex score` (COINr's `compare_coins`)."""

from __future__ import annotations

import pandas as pd

from tasks.engine.framework import Framework


def changes(
    previous: pd.DataFrame, current: pd.DataFrame, framework: Framework, unit: str = "city_code"
) -> pd.DataFrame:
    """One row per unit in both score tables whose index rank or score moved.

    `driver` is the dimension whose weighted score change moved the index most (the weights
    are the current table's `weight_in_index`), so a reader sees why a city rose or fell.
    """
    dimensions = framework.children(framework.root)["code"].tolist()
    nodes = [framework.root, *dimensions]

    def wide(table: pd.DataFrame, column: str) -> pd.DataFrame:
        rows = table[table["node"].isin(nodes)]
        return rows.pivot(index=unit, columns="node", values=column).reindex(columns=nodes)

    before, after = wide(previous, "score"), wide(current, "score")
    ranks_before = wide(previous, "rank")[framework.root]
    ranks_after = wide(current, "rank")[framework.root]
    common = before.index.intersection(after.index)
    weights = current.drop_duplicates("node").set_index("node")["weight_in_index"].reindex(dimensions)
    weighted = (after.loc[common, dimensions] - before.loc[common, dimensions]) * weights
    out = pd.DataFrame(
        {
            "rank_before": ranks_before.loc[common].astype("Int64"),
            "rank_after": ranks_after.loc[common].astype("Int64"),
            "index_before": before.loc[common, framework.root],
            "index_after": after.loc[common, framework.root],
        }
    )
    out["move"] = out["rank_before"] - out["rank_after"]  # positive = up
    out["driver"] = weighted.abs().idxmax(axis=1)
    out["driver_effect"] = [
        weighted.loc[u, d] if isinstance(d, str) else float("nan") for u, d in out["driver"].items()
    ]
    moved = (out["move"] != 0) | ((out["index_after"] - out["index_before"]).abs() > 1e-9)
    return out[moved].sort_values(["rank_after"]).rename_axis(unit).reset_index()


SCORE_KEYS = ("unit", "node")
COMPARE_COLUMNS = ["level", "score_a", "score_b", "score_diff", "rank_a", "rank_b", "rank_diff",
                   "abs_rank_diff"]  # fmt: skip


def compare_scores(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """COINr's `compare_coins` for every node at once: two long score tables of `coopindex score`
    side by side, per unit (and period) and node.

    `score_diff` = A − B and `rank_diff` = A − B, as COINr's `Diff` (coin 1 − coin 2): a
    negative `rank_diff` means the unit ranks better in A. A unit or node in one table only
    has the other side missing. Rows in A's node order, then by `abs_rank_diff`, largest first.
    """
    keys = _keys(first)
    if keys != _keys(second):
        raise ValueError(f"the score tables have different keys: {keys} and {_keys(second)}")
    both = first[[*keys, "level", "score", "rank"]].merge(
        second[[*keys, "level", "score", "rank"]], on=keys, how="outer", suffixes=("_a", "_b"), sort=False
    )
    both["level"] = both["level_a"].fillna(both["level_b"]).astype("Int64")
    both["score_diff"] = both["score_a"] - both["score_b"]
    both["rank_a"], both["rank_b"] = both["rank_a"].astype("Int64"), both["rank_b"].astype("Int64")
    both["rank_diff"] = both["rank_a"] - both["rank_b"]
    both["abs_rank_diff"] = both["rank_diff"].abs()
    order = {node: i for i, node in enumerate(dict.fromkeys([*first["node"], *second["node"]]))}
    both["_node"] = both["node"].map(order)
    both = both.sort_values(["_node", "abs_rank_diff", *keys], ascending=[True, False, *[True] * len(keys)],
                            kind="stable", na_position="last")  # fmt: skip
    return both[[*keys, *COMPARE_COLUMNS]].reset_index(drop=True)


def _keys(scores: pd.DataFrame) -> list[str]:
    """`unit`, the period column of panel data if any (between `unit` and `node`), `node`."""
    columns = list(scores.columns)
    missing = [key for key in SCORE_KEYS if key not in columns]
    if missing:
        raise ValueError(f"not a score table of coopindex score: no column {missing}")
    between = columns[columns.index("unit") + 1 : columns.index("node")]
    return ["unit", *between, "node"]
