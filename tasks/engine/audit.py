"""The structure audits COINr users run on a built index: PCA of each aggregate's children
(`get_PCA`) and leave-one-out rank shifts (`remove_elements`).

A dimension whose first component explains little of its children's variance does not
summarise one thing; an indicator whose removal moves no rank adds little to the index.
Panel data (a (unit, time) index) are audited period by period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.engine.aggregate import AggregationPlan, framework_means
from tasks.engine.framework import Framework
from tasks.engine.method import Method

PCA_COLUMNS = ["node", "component", "child", "loading", "eigenvalue", "variance_share",
               "cumulative_share", "units"]  # fmt: skip


def principal_components(children: pd.DataFrame) -> pd.DataFrame | None:
    """PCA of the columns on the complete rows, each centred and scaled (R's `prcomp(scale = TRUE)`).

    One row per (component, child): its loading, the component's eigenvalue (variance of the
    scaled data along it), its share of the total and the cumulative share. A component's sign
    is arbitrary; its largest loading is made positive. None with fewer than 2 columns, 3
    complete rows, or a column without spread.
    """
    complete = children.dropna().to_numpy(dtype="float64")
    n, k = complete.shape
    if k < 2 or n < 3:
        return None
    sd = complete.std(axis=0, ddof=1)
    if not (np.isfinite(sd).all() and (sd > 0).all()):
        return None
    scaled = (complete - complete.mean(axis=0)) / sd
    _, singular, vt = np.linalg.svd(scaled, full_matrices=False)
    eigenvalues = singular**2 / (n - 1)
    strongest = vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)]
    vt = vt * np.sign(strongest)[:, None]
    share = eigenvalues / eigenvalues.sum()
    rows = [
        (j + 1, child, vt[j, i], eigenvalues[j], share[j], share[: j + 1].sum(), n)
        for j in range(len(vt))
        for i, child in enumerate(children.columns)
    ]
    return pd.DataFrame(rows, columns=PCA_COLUMNS[1:])


def pca_by_node(scores: pd.DataFrame, framework: Framework) -> pd.DataFrame:
    """`principal_components` of every aggregate's children; `scores` is units x every node."""
    parts = []
    for level in framework.levels[1:]:
        for node in framework.nodes(level):
            children = framework.children(node)["code"].tolist()
            found = principal_components(scores[children])
            if found is not None:
                parts.append(found.assign(node=node))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PCA_COLUMNS)
    return out[PCA_COLUMNS].astype({"node": "str", "child": "str", "component": "int64"})


def removal_levels(framework: Framework) -> list[int]:
    """The levels `leave_one_out` removes: the indicators and the dimensions (level 2) below the root."""
    return [level for level in (1, 2) if level < max(framework.levels)]


def leave_one_out(
    scores: pd.DataFrame, framework: Framework, method: Method, weights: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each indicator and each dimension removed in turn (its weight set to 0, as COINr's
    `remove_elements`): the index re-aggregated and re-ranked.

    `scores` is units x every node (the nominal normalised and aggregated scores), `weights`
    the relative weights used. Returns the summary (`removed`, `level`,
    `mean_abs_rank_change`: over the units ranked both times) and the per-unit table (`unit`,
    `nominal_rank`, then per removed element the rank change, nominal minus new as COINr's
    `RankDiffs`: positive when the unit rises without the element). Panel data are ranked
    within each period and the mean is over every unit and period.
    """
    settings = method.aggregate
    plan = AggregationPlan.build(
        framework, settings.method, settings.min_share, by_level=settings.by_level,
        by_node=framework_means(framework) | dict(settings.by_node), power=settings.power,
        offset=settings.offset, nonpositive=settings.nonpositive,
    )  # fmt: skip
    matrix = scores[plan.columns].to_numpy(dtype="float64")
    base = plan.weights(weights)
    root = plan.columns.index(framework.root)
    parent = framework.column("parent")
    nominal = descending_ranks(matrix[:, root], scores.index)
    work = matrix.copy()
    changes, summary = {}, []
    for level in removal_levels(framework):
        for code in framework.nodes(level):
            changed = base.copy()
            changed[plan.codes.index(code)] = 0.0
            ancestors, up = set(), parent[code]
            while up:
                ancestors.add(up)
                up = parent[up]
            columns = [plan.columns.index(node) for node in ancestors]
            index = plan.execute(work, changed, scores.index, only=ancestors, in_place=True)[:, root].copy()
            work[:, columns] = matrix[:, columns]  # the next removal starts from the nominal scores
            change = nominal - descending_ranks(index, scores.index)
            changes[code] = change
            summary.append((code, level, float(np.nanmean(np.abs(change))) if np.isfinite(change).any()
                            else float("nan")))  # fmt: skip
    per_unit = pd.DataFrame({"nominal_rank": nominal, **changes}, index=scores.index)
    table = pd.DataFrame(summary, columns=["removed", "level", "mean_abs_rank_change"])
    return table, per_unit.astype("Int64")


def descending_ranks(values: np.ndarray, index: pd.Index) -> np.ndarray:
    """Highest first, ties sharing the better rank, NaN for a missing value (pandas'
    `rank(ascending=False, method="min")`); within each period for a (unit, time) index."""
    if index.nlevels == 2:
        series = pd.Series(values, index=index).groupby(level=1, sort=False)
        return series.rank(ascending=False, method="min").to_numpy(dtype="float64")
    # 1 + how many values are above, from one argsort (pandas' rank per removal costs 4x as much)
    rows = np.flatnonzero(~np.isnan(values))
    order = rows[np.argsort(values[rows])]
    ordered = values[order]
    last = np.ones(len(order), dtype=bool)  # the last of its ties, in ascending order
    last[:-1] = ordered[1:] != ordered[:-1]
    at = np.arange(len(order))
    top = np.minimum.accumulate(np.where(last, at, len(order))[::-1])[::-1]
    out = np.full(len(values), np.nan)
    out[order] = len(order) - top
    return out
