"""Results: ranks of every node, the long score table the warehouse holds, top-N summaries,
contributions of the dimensions to each unit's index, and each unit's strengths and weaknesses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.engine.framework import Framework


def rank(scores: pd.DataFrame) -> pd.DataFrame:
    """Rank units within every column, highest first; ties share the better (lower) rank."""
    return scores.rank(ascending=False, method="min", na_option="keep").astype("Int64")


def score_table(
    raw: pd.DataFrame,
    normalised: pd.DataFrame,
    aggregated: pd.DataFrame,
    framework: Framework,
    weight_in_index: pd.Series | None = None,
) -> pd.DataFrame:
    """Long table: one row per unit and node with its raw value (indicators), score and rank.

    `weight_in_index` (by code) is each node's nominal share of the index; the framework's
    effective weights when not given.

    Rows ordered by node (highest level first, in framework order), then rank, then unit;
    built with numpy (one int64 argsort) so that 10,000 units x a few hundred nodes stay fast.
    """
    if weight_in_index is None:
        weight_in_index = framework.effective_weights()
    scores = pd.concat([normalised, aggregated], axis=1)
    ranks = rank(scores)
    unit = scores.index.name or "unit"
    n_units, n_nodes = scores.shape
    values = scores.to_numpy(dtype="float64").ravel()  # unit-major, as DataFrame.stack
    rank_values = ranks.to_numpy(dtype="float64", na_value=np.nan).ravel()
    raw_values = raw.reindex(columns=scores.columns).to_numpy(dtype="float64").ravel()
    order = {code: i for i, code in enumerate(framework.table.sort_values("level", ascending=False)["code"])}
    # one int64 key: node position (framework order, others last), then rank (missing last), then unit
    node_key = np.array([order.get(code, len(order)) for code in scores.columns], dtype="int64")
    unit_key = np.argsort(np.argsort(scores.index.to_numpy(), kind="stable"), kind="stable")
    base = n_units + 2
    rank_key = np.where(np.isnan(rank_values), base - 1, np.nan_to_num(rank_values)).astype("int64")
    key = (np.tile(node_key, n_units) * base + rank_key) * base + np.repeat(unit_key, n_nodes)
    rows = np.argsort(key, kind="stable")
    unit_of, node_of = np.divmod(rows, n_nodes)
    meta = framework.table.drop_duplicates("code").set_index("code")
    rank_column = rank_values[rows]
    missing_rank = np.isnan(rank_column)
    long = pd.DataFrame(
        {
            unit: scores.index.take(unit_of),
            "node": scores.columns.take(node_of),
            "level": meta["level"].reindex(scores.columns).to_numpy()[node_of],
            "parent": meta["parent"].reindex(scores.columns).to_numpy()[node_of],
            "raw_value": raw_values[rows],
            "score": values[rows],
            "rank": pd.arrays.IntegerArray(
                np.where(missing_rank, 0, rank_column).astype("int64"), missing_rank
            ),
            "weight_in_index": weight_in_index.reindex(scores.columns).to_numpy()[node_of],
        }
    )
    return long


def top_mean(index_scores: pd.Series, n: int) -> float:
    """Mean score of the `n` best units, the headline figure the evaluation quotes."""
    return float(index_scores.dropna().sort_values(ascending=False).head(n).mean())


def top_table(scores: pd.DataFrame, framework: Framework, n: int) -> pd.DataFrame:
    """Rank, city, index and dimension scores of the `n` best cities, from a scores table."""
    dimensions = framework.children(framework.root)["code"].tolist()
    nodes = [framework.root, *dimensions]
    wide = scores[scores["node"].isin(nodes)].pivot(
        index=["city_code", "city_name"], columns="node", values="score"
    )
    ranks = scores[scores["node"] == framework.root].set_index("city_code")["rank"]
    wide = wide[nodes].reset_index()
    wide.insert(0, "rank", wide["city_code"].map(ranks).astype("Int64"))
    return wide.sort_values(["rank", "city_code"]).head(n).reset_index(drop=True)


def contributions(
    normalised_and_aggregated: pd.DataFrame, framework: Framework, weights: pd.Series | None = None
) -> pd.DataFrame:
    """Units x children of the root: each child's contribution to the unit's index.

    contribution = (child's weight / weight of the children the unit has) * child's score, so
    the contributions of a unit sum to its index when the index is the weighted ARITHMETIC mean
    of its children under the same weights (exactly only then: a geometric, harmonic or power
    mean is not a sum of per-child terms). A missing child contributes nothing (missing); a
    unit whose index is missing (in the table) gets missing contributions. `weights` (indexed
    by code) replace the framework's weights of the root's children, as in `aggregate`.
    """
    children = framework.children(framework.root)["code"].tolist()
    given = framework.column("weight") if weights is None else weights
    missing = [code for code in children if code not in given.index]
    if missing:
        raise ValueError(f"contributions: no weights for {missing}")
    w = given.reindex(children).to_numpy(dtype="float64")
    values = normalised_and_aggregated[children].to_numpy(dtype="float64")
    present = ~np.isnan(values)
    total = np.where(present, w, 0.0).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(present, values * w / total, np.nan)
    if framework.root in normalised_and_aggregated:
        out[normalised_and_aggregated[framework.root].isna().to_numpy()] = np.nan
    return pd.DataFrame(out, index=normalised_and_aggregated.index, columns=children)


def strengths_weaknesses(
    scores_long: pd.DataFrame, n: int = 3, unit: str | list[str] = "city_code"
) -> pd.DataFrame:
    """Per unit its `n` best-ranked indicators (strengths) and `n` worst-ranked (weaknesses).

    From a long score table (`score_table`): indicator rows (level 1, when the table has a
    level column) with a rank; ties in rank are broken by node code. Strengths are listed best
    first, weaknesses worst first; a unit with fewer than 2n ranked indicators has indicators
    that are both (as in COINr's `get_str_weak`). Columns: unit, kind, node, rank, score;
    `unit` may be several key columns (unit and period of panel data).
    """
    keys = [unit] if isinstance(unit, str) else list(unit)
    ranked = scores_long["rank"].notna().to_numpy().copy()
    if "level" in scores_long:
        ranked &= (scores_long["level"] == 1).to_numpy()
    at = np.flatnonzero(ranked)
    group = np.zeros(len(at), dtype="int64")
    for key in keys:  # one code per unit (and period), in the keys' sort order (a missing key first)
        codes, uniques = pd.factorize(scores_long[key], sort=True)
        group = group * (len(uniques) + 1) + codes[at] + 1
    node, nodes = pd.factorize(scores_long["node"], sort=True)
    node = node[at]
    ranks = scores_long["rank"].to_numpy(dtype="float64", na_value=np.nan)[at].astype("int64")
    top = int(ranks.max()) + 1 if len(ranks) else 1
    picked = _picks_dense(group, node, ranks, top, len(nodes), n)
    chosen, kind_of = picked if picked is not None else _picks_sorted(group, node, ranks, top, len(nodes), n)
    out = scores_long.iloc[at[chosen]][[*keys, "node", "rank", "score"]].reset_index(drop=True)
    out.insert(len(keys), "kind", np.array(["strength", "weakness"])[kind_of])
    return out


def _picks_dense(
    group: np.ndarray, node: np.ndarray, ranks: np.ndarray, top: int, width: int, n: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """`_picks_sorted`'s rows from a units x nodes matrix of sort keys, partitioned per row (no
    sort of the whole table); None when a (unit, node) repeats or the matrix would be sparse."""
    if not len(group):
        return None
    seen = np.bincount(group) > 0 if group.max() < 4 * len(group) else None
    if seen is not None:  # the codes are nearly dense: number them without a sort
        groups, row = np.flatnonzero(seen), (np.cumsum(seen) - 1)[group]
    else:
        groups, row = np.unique(group, return_inverse=True)
    cells = len(groups) * width
    if cells > 4 * len(group) + 1024:
        return None
    where = row * width + node
    if np.bincount(where, minlength=cells).max() > 1:
        return None
    empty = np.iinfo(np.int64).max
    k = min(n, width)
    found, kinds = [], []
    for kind, key in ((0, ranks), (1, top - ranks)):  # best first, then worst first; ties by node
        matrix = np.full(cells, empty, dtype="int64")
        matrix[where] = key * (width + 1) + node
        matrix = matrix.reshape(len(groups), width)
        first = np.take_along_axis(matrix, np.argpartition(matrix, np.arange(k), axis=1)[:, :k], axis=1)
        found.append(first)
        kinds.append(np.full(first.shape, kind))
    keys = np.stack(found, axis=1).reshape(-1)  # unit, then kind, then place
    kind_of = np.stack(kinds, axis=1).reshape(-1)
    units = np.repeat(np.arange(len(groups)), 2 * k)
    kept = keys != empty
    lookup = np.full(cells, -1, dtype="int64")
    lookup[where] = np.arange(len(group))
    return lookup[units[kept] * width + keys[kept] % (width + 1)], kind_of[kept]


def _picks_sorted(
    group: np.ndarray, node: np.ndarray, ranks: np.ndarray, top: int, width: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The positions (in the ranked rows) of each unit's first n by (rank, node) and first n by
    (rank descending, node), ordered by unit, kind and place; and the kind (0 strength, 1 weakness)."""
    picked, kinds, places = [], [], []
    for kind, key in ((0, ranks), (1, top - ranks)):
        order = np.argsort((group * (top + 1) + key) * (width + 1) + node, kind="stable")
        ordered = group[order]
        step = np.arange(len(order))
        first = np.ones(len(order), dtype=bool)
        first[1:] = ordered[1:] != ordered[:-1]
        place = step - np.maximum.accumulate(np.where(first, step, 0))
        kept = place < n
        picked.append(order[kept])
        kinds.append(np.full(int(kept.sum()), kind))
        places.append(place[kept])
    chosen, kind_of, place = np.concatenate(picked), np.concatenate(kinds), np.concatenate(places)
    final = np.lexsort([place, kind_of, group[chosen]])
    return chosen[final], kind_of[final]
