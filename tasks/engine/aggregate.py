"""Aggregate: combine children into their parent node, level by level up to the index.

Weights are relative within a parent and renormalised over the children a unit has; a node
is missing for a unit when the weight share of its available children falls below
`min_share`. Means are small named functions (COINr's `a_amean` ...) chosen by name: one
`method` for all, overridden per level (`by_level`) and, beyond COINr, per node (`by_node`,
which wins over the level).

| name | weighted mean over the present children (weights w renormalised to sum 1) |
| --- | --- |
| `arithmetic` | `sum(w x)` |
| `geometric` | `exp(sum(w ln x))`, needs x > 0 |
| `harmonic` | `1 / sum(w / x)`, needs x > 0 |
| `power` | `sum(w x^p) ^ (1/p)`, exponent `power`: p = 1 arithmetic, p = 0 geometric, p = -1 harmonic |

The power mean needs x > 0 for p <= 0 and x >= 0 for other p than 1.

A value the mean cannot take (a zero or negative child of a geometric or harmonic mean) is
an error naming the node and the unit, unless `offset` is given: then `offset` is added to
every child value before any mean but the arithmetic one and subtracted from the result
(so a shifted geometric mean `exp(sum(w ln(x + offset))) - offset`; it equals no mean of
the unshifted values, and the result depends on the offset chosen, which the method file
should record).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tasks.engine.framework import Framework

# (values: units x children with NaN for missing, weights: children, **options) -> one value per unit
Aggregator = Callable[..., np.ndarray]


def _present_weights(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    present = ~np.isnan(values)
    used = np.where(present, weights, 0.0)
    return present, used.sum(axis=1)


def a_amean(values: np.ndarray, weights: np.ndarray, **_: Any) -> np.ndarray:
    """Weighted arithmetic mean over the available (non-missing) children of each unit."""
    present, total = _present_weights(values, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, values, 0.0) @ weights / total


def a_gmean(values: np.ndarray, weights: np.ndarray, **_: Any) -> np.ndarray:
    """Weighted geometric mean exp(sum w ln x / sum w) over the available children (x > 0)."""
    present, total = _present_weights(values, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.exp(np.log(np.where(present, values, 1.0)) @ weights / total)


def a_hmean(values: np.ndarray, weights: np.ndarray, **_: Any) -> np.ndarray:
    """Weighted harmonic mean sum w / sum (w / x) over the available children (x > 0)."""
    present, total = _present_weights(values, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / (np.where(present, 1.0 / values, 0.0) @ weights)


def a_pmean(values: np.ndarray, weights: np.ndarray, power: float = 1.0, **_: Any) -> np.ndarray:
    """Weighted generalised mean (sum w x^p / sum w)^(1/p); p = 0 is the geometric mean.

    Computed as m * exp(log1p(sum w expm1(p ln(x / m)) / sum w) / p) with m the unit's largest
    child, which is exact algebra and keeps an exponent near 0 or a large one from rounding
    to 1 or overflowing.
    """
    if power == 0:
        return a_gmean(values, weights)
    if power == 1:
        return a_amean(values, weights)
    present, total = _present_weights(values, weights)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        logs = np.log(np.where(present, values, 1.0))  # -inf for a zero child
        top = np.max(np.where(present, logs, -np.inf), axis=1, initial=-np.inf)
        terms = np.where(present, np.expm1(power * (logs - top[:, None])), 0.0)
        mean = np.exp(top + np.log1p(terms @ weights / total) / power)
        return np.where(np.isneginf(top) & (total > 0), 0.0, mean)  # every present child is 0


AGGREGATORS: dict[str, Aggregator] = {
    "arithmetic": a_amean,
    "geometric": a_gmean,
    "harmonic": a_hmean,
    "power": a_pmean,
}


def _lookup(method: str) -> Aggregator:
    try:
        return AGGREGATORS[method]
    except KeyError:
        raise ValueError(f"unknown aggregation {method!r}; known: {sorted(AGGREGATORS)}") from None


def _strictly_positive(method: str, power: float) -> bool | None:
    """True when the mean needs x > 0, False when x >= 0, None when any value will do."""
    if method in ("geometric", "harmonic"):
        return True
    if method == "power" and power != 1:
        return power <= 0
    return None


def _check_domain(
    values: np.ndarray, strict: bool, node: str, method: str, units: pd.Index, codes: list[str], shifted: bool
) -> None:
    with np.errstate(invalid="ignore"):
        bad = (values <= 0) if strict else (values < 0)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        need = "positive" if strict else "non-negative"
        hint = "after the offset" if shifted else "(give an offset to shift them)"
        raise ValueError(
            f"{method} mean of node {node!r}: unit {units[row]!r} has child {codes[column]!r} = "
            f"{values[row, column]:g}, the mean needs {need} values {hint}"
        )


def _node_weights(node: str, children: pd.DataFrame, weights: pd.Series | None) -> np.ndarray:
    codes = children["code"].tolist()
    if weights is None or not weights.index.isin(codes).any():
        return children["weight"].to_numpy(dtype="float64")
    given = weights.reindex(codes)
    if given.isna().any():
        absent = given.index[given.isna()].tolist()
        raise ValueError(f"weights for the children of {node!r} are incomplete: missing {absent}")
    if (given < 0).any():
        raise ValueError(f"weights of the children of {node!r} must not be negative")
    return given.to_numpy(dtype="float64")


def aggregate(
    normalised: pd.DataFrame,
    framework: Framework,
    method: str = "arithmetic",
    min_share: float = 0.0,
    *,
    by_level: Mapping[int, str] | None = None,
    by_node: Mapping[str, str] | None = None,
    weights: pd.Series | None = None,
    power: float = 1.0,
    offset: float | None = None,
) -> pd.DataFrame:
    """Scores of every aggregate node (columns) for every unit (rows), lowest level first.

    `by_level` (level -> method) overrides `method`; `by_node` (node code -> method) overrides
    both. `weights` (indexed by code) replace the framework's weights of every parent whose
    children it names (all of them; they are relative within the parent). `power` is the
    exponent of the `power` mean; `offset` shifts the children before the mean (module doc).
    """
    by_level = dict(by_level or {})
    by_node = dict(by_node or {})
    for name in [method, *by_level.values(), *by_node.values()]:
        _lookup(name)
    aggregates = [node for level in framework.levels[1:] for node in framework.nodes(level)]
    unknown = sorted(set(by_node) - set(aggregates))
    if unknown:
        raise ValueError(f"by_node names nodes that are not aggregates: {unknown}")
    absent = [code for code in framework.indicators if code not in normalised.columns]
    if absent:
        raise ValueError(f"aggregate: no scores for the indicators {absent}")
    scores = {code: normalised[code].to_numpy(dtype="float64") for code in normalised.columns}
    out = {}
    for level in framework.levels[1:]:
        for node in framework.nodes(level):
            name = by_node.get(node, by_level.get(level, method))
            children = framework.children(node)
            codes = children["code"].tolist()
            values = np.column_stack([scores[code] for code in codes]) if codes else np.empty((0, 0))
            node_weights = _node_weights(node, children, weights)
            shifted = offset is not None and name != "arithmetic"  # the arithmetic mean needs no shift
            if shifted:
                values = values + offset
            strict = _strictly_positive(name, power)
            if strict is not None:
                _check_domain(values, strict, node, name, normalised.index, codes, shifted)
            total = node_weights.sum()
            present = np.where(~np.isnan(values), node_weights, 0.0).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = present / total
            result = AGGREGATORS[name](values, node_weights, power=power)
            if shifted:
                result = result - offset
            scores[node] = out[node] = np.where(share >= max(min_share, 1e-12), result, np.nan)
    return pd.DataFrame(out, index=normalised.index, columns=aggregates)
