"""Weight: the weight of every node relative to its siblings, from the framework, equal, or PCA.

Every function returns a Series indexed by node code (all nodes, the root included with
weight 1) whose values sum to 1 within each parent: the form `aggregate(weights=...)` and
`effective_weights` take. The method file's `weight.method` names one of `WEIGHTERS`, small
functions of (normalised scores, framework) as the other steps' registries.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tasks.engine.aggregate import a_amean
from tasks.engine.framework import Framework

# (normalised scores: units x indicators, framework) -> weight of every node relative to its parent
Weighter = Callable[[pd.DataFrame, Framework], pd.Series]


def framework_weights(framework: Framework) -> pd.Series:
    """The framework's weights, renormalised to sum 1 within each parent."""
    return framework.relative_weights().rename("weight")


def equal_weights(framework: Framework) -> pd.Series:
    """1 / (number of siblings) for every node."""
    return framework.relative_weights(pd.Series(1.0, index=framework.column("weight").index)).rename("weight")


def effective_weights(framework: Framework, weights: pd.Series | None = None) -> pd.Series:
    """Each node's share of the index (`Framework.effective_weights`, the one implementation)."""
    return framework.effective_weights(weights)


def first_component_weights(values: np.ndarray, min_cases: int | None = None) -> np.ndarray | None:
    """Weights from the first principal component of `values` (cases x children), or None.

    Complete cases only; the covariance matrix (centred, not scaled: the children are scores
    on one common scale, so a child that varies more carries more of the component); the
    weight of a child is its squared loading on the first component, normalised to sum 1
    (squared loadings of a unit eigenvector are each child's share of that component's
    direction, non-negative whatever the eigenvector's sign). None when there are fewer than
    `min_cases` complete cases (default: children + 1, and at least 3) or no variance.
    """
    complete = values[~np.isnan(values).any(axis=1)]
    children = values.shape[1]
    if len(complete) < (max(children + 1, 3) if min_cases is None else min_cases):
        return None
    covariance = np.atleast_2d(np.cov(complete, rowvar=False))
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending eigenvalues
    if not np.isfinite(eigenvalues).all() or eigenvalues[-1] <= 0:
        return None
    squared = eigenvectors[:, -1] ** 2
    return squared / squared.sum()


def pca_weights(normalised: pd.DataFrame, framework: Framework) -> pd.Series:
    """Weights of every node's children from the first principal component of their scores.

    Level by level from the bottom: a node's children's scores are the columns of `normalised`
    (indicators, or aggregates it already holds) or else their weighted arithmetic means under
    the PCA weights found below (missing children renormalised). A node with fewer than 2
    children, too few complete cases or no variance keeps equal weights.
    See `first_component_weights` for the formula.
    """
    weights = equal_weights(framework)
    scores = {code: normalised[code].to_numpy(dtype="float64") for code in normalised.columns}
    for level in framework.levels[1:]:
        for node in framework.nodes(level):
            codes = framework.children(node)["code"].tolist()
            for code in codes:
                if code not in scores:
                    raise ValueError(f"pca_weights: no scores for {code!r} (a child of {node!r})")
            if len(codes) >= 2:
                found = first_component_weights(np.column_stack([scores[code] for code in codes]))
                if found is not None:
                    weights[codes] = found
            if node not in scores:
                values = np.column_stack([scores[code] for code in codes])
                scores[node] = a_amean(values, weights[codes].to_numpy())
    return weights


def w_framework(normalised: pd.DataFrame, framework: Framework) -> pd.Series:
    """The framework table's weights (`framework_weights`); the data plays no part."""
    return framework_weights(framework)


def w_equal(normalised: pd.DataFrame, framework: Framework) -> pd.Series:
    """Equal weights among siblings (`equal_weights`); the data plays no part."""
    return equal_weights(framework)


def w_pca(normalised: pd.DataFrame, framework: Framework) -> pd.Series:
    """Weights from the data's first principal components (`pca_weights`)."""
    return pca_weights(normalised, framework)


WEIGHTERS: dict[str, Weighter] = {"framework": w_framework, "equal": w_equal, "pca": w_pca}
