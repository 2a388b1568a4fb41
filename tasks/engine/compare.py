"""What changed against the previously published edition: rank moves and what drove them."""

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
