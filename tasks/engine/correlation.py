"""How the index's parts move together: correlations between every pair of nodes, COINr's
correlation flags, and Cronbach's alpha of each group.

A composite index is only as meaningful as its structure: an indicator that correlates
negatively with its siblings pulls its dimension apart, two that nearly duplicate each other
double-count one thing, and a low alpha says a dimension's indicators do not measure one
concept. These are the checks COINr's `get_corr`, `get_corr_flags` and `get_cronbach` make.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.engine.spearman import spearman_matrix

METHODS = ("pearson", "spearman")
# COINr's get_corr_flags defaults: r at least 0.9 is collinear, r at most -0.4 negative.
NEAR_DUPLICATE = 0.9
NEGATIVE = -0.4
COLUMNS = ("measure", "node_1", "node_2", "level_1", "level_2", "same_parent", "value", "flag")


def wide_scores(scores: pd.DataFrame, unit: str = "city_code") -> pd.DataFrame:
    """Units × nodes of a long score table (`node`, `score`), nodes in the table's order."""
    nodes = scores["node"].drop_duplicates().tolist()
    return scores.pivot(index=unit, columns="node", values="score").reindex(columns=nodes)


def correlation_matrix(wide: pd.DataFrame, method: str = "pearson") -> pd.DataFrame:
    """Pairwise correlations of the columns, each pair on the units both have (pandas' rule);
    a column without spread correlates with nothing (NaN).

    Spearman is pandas' result without pandas' re-ranking of every pair (`spearman_matrix`);
    an infinite value, which pandas ranks in one case and drops in another, is left to pandas,
    and so are over a million rows, where the exact integer sums would overflow int64.
    """
    if method not in METHODS:
        raise ValueError(f"unknown correlation method {method!r}: expected one of {METHODS}")
    frame = wide.astype("float64")
    values = frame.to_numpy()
    if method == "pearson" or np.isinf(values).any() or len(values) > 1_000_000:
        return frame.corr(method=method)
    return pd.DataFrame(spearman_matrix(values), index=frame.columns, columns=frame.columns)


def cronbach_alpha(items: pd.DataFrame) -> float:
    """Cronbach's alpha of the columns, on the complete rows: k/(k-1) × (1 − Σ var_i / var_Σ).

    NaN with fewer than two items or two complete rows, or when the total has no variance.
    """
    complete = items.dropna().astype("float64")
    k = complete.shape[1]
    if k < 2 or len(complete) < 2:
        return float("nan")
    total = complete.sum(axis=1).var(ddof=1)
    if not np.isfinite(total) or total == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - complete.var(ddof=1).sum() / total))


def flag(value: float, same_parent: bool, high: float = NEAR_DUPLICATE, low: float = NEGATIVE) -> str:
    """COINr's flags, for siblings only (indicators of one dimension, or the dimensions):
    `near-duplicate` when r ≥ `high`, `negative` when r ≤ `low`, else empty."""
    if not same_parent or pd.isna(value):
        return ""
    if value >= high:
        return "near-duplicate"
    if value <= low:
        return "negative"
    return ""


def node_correlations(
    scores: pd.DataFrame,
    high: float = NEAR_DUPLICATE,
    low: float = NEGATIVE,
    unit: str = "city_code",
    wide: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every pair of nodes (indicators, dimensions, index) under Pearson and Spearman, then
    Cronbach's alpha of each parent's children (`node_1` the parent, `node_2` empty).

    `scores` is long (`node`, `level`, `parent`, `score`); pairs are in node order, each once.
    `wide`, the same scores as units x nodes when the caller has them, saves the pivot. Pairs
    are flagged by `flag`'s rules, on whole arrays (a 125-node index has 15,500 pairs).
    """
    nodes = scores.drop_duplicates("node").set_index("node")
    wide = wide_scores(scores, unit) if wide is None else wide[nodes.index.tolist()]
    names = np.asarray(wide.columns.tolist(), dtype=object)
    parent = nodes["parent"].reindex(names).to_numpy(dtype=object)
    level = nodes["level"].reindex(names).to_numpy(dtype="int64")
    first, second = np.triu_indices(len(names), k=1)
    siblings = parent[first] == parent[second]
    parts = []
    for method in METHODS:
        value = correlation_matrix(wide, method).to_numpy()[first, second]
        marked = np.where(siblings & (value >= high), "near-duplicate",
                          np.where(siblings & (value <= low), "negative", ""))  # fmt: skip
        parts.append(pd.DataFrame({
            "measure": method, "node_1": names[first], "node_2": names[second], "level_1": level[first],
            "level_2": level[second], "same_parent": siblings, "value": value, "flag": marked,
        }))  # fmt: skip
    rows = []
    for parent_code in nodes.loc[nodes["parent"] != "", "parent"].drop_duplicates():
        children = nodes.index[nodes["parent"] == parent_code].tolist()
        at = int(nodes.at[parent_code, "level"]) if parent_code in nodes.index else 0
        rows.append(("cronbach_alpha", parent_code, "", at, at - 1, True,
                     cronbach_alpha(wide[children]), ""))  # fmt: skip
    alphas = [pd.DataFrame(rows, columns=list(COLUMNS))] if rows else []
    out = pd.concat([*parts, *alphas], ignore_index=True)
    out["node_2"] = out["node_2"].astype("string")
    out["node_1"] = out["node_1"].astype("string")
    out["measure"] = out["measure"].astype("string")
    out["flag"] = out["flag"].astype("string")
    return out


def square(correlations: pd.DataFrame, measure: str, nodes: list[str]) -> pd.DataFrame:
    """The long pairs of one measure back as a symmetric matrix over `nodes`, 1 on the diagonal."""
    pairs = correlations[correlations["measure"] == measure]
    matrix = pd.DataFrame(np.nan, index=nodes, columns=nodes)
    for row in pairs.itertuples(index=False):
        if row.node_1 in matrix.index and row.node_2 in matrix.index:
            matrix.at[row.node_1, row.node_2] = matrix.at[row.node_2, row.node_1] = row.value
    for node in nodes:
        matrix.at[node, node] = 1.0
    return matrix
