"""Aggregate: combine children into their parent node, level by level up to the index.

Weights are relative within a parent and renormalised over the children a unit has; a node
is missing for a unit when the weight share of its available children falls below
`min_share`. Means are small named functions (COINr's `a_amean` ...) chosen by name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tasks.framework import Framework

# (values: units x children with NaN for missing, weights: children) -> one value per unit
Aggregator = Callable[[np.ndarray, np.ndarray], np.ndarray]


def a_amean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted arithmetic mean over the available (non-missing) children of each unit."""
    present = ~np.isnan(values)
    used = np.where(present, weights, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, values, 0.0) @ weights / used.sum(axis=1)


AGGREGATORS: dict[str, Aggregator] = {"arithmetic": a_amean}


def aggregate(
    normalised: pd.DataFrame, framework: Framework, method: str = "arithmetic", min_share: float = 0.0
) -> pd.DataFrame:
    """Scores of every aggregate node (columns) for every unit (rows), lowest level first."""
    try:
        mean = AGGREGATORS[method]
    except KeyError:
        raise ValueError(f"unknown aggregation {method!r}; known: {sorted(AGGREGATORS)}") from None
    scores = normalised.copy()
    for level in framework.levels[1:]:
        for node in framework.nodes(level):
            children = framework.children(node)
            values = scores[children["code"]].to_numpy(dtype="float64")
            weights = children["weight"].to_numpy(dtype="float64")
            share = np.where(~np.isnan(values), weights, 0.0).sum(axis=1) / weights.sum()
            result = mean(values, weights)
            scores[node] = np.where(share >= max(min_share, 1e-12), result, np.nan)
    return scores.drop(columns=normalised.columns)
