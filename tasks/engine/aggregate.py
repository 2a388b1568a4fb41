"""Aggregate: combine children into their parent node, level by level up to the index.

Weights are relative within a parent and renormalised over the children a unit has. A node
is missing for a unit when the weight share of its available children, `sum(w present) /
sum(w)`, falls below `min_share` (the method file's default 0.5; 0 keeps a node while any child
has a value). COINr's `dat_thresh` is the same test on the count share `sum(present) / n`, and
off by default; they agree under equal weights. Means are small named functions (COINr's
`a_amean` ...) chosen by name: one `method` for all, overridden per level (`by_level`) and,
beyond COINr, per node (`by_node`, which wins over the level).

| name | weighted mean over the present children (weights w renormalised to sum 1) |
| --- | --- |
| `arithmetic` | `sum(w x)` |
| `geometric` | `exp(sum(w ln x))`, needs x > 0 |
| `harmonic` | `1 / sum(w / x)`, needs x > 0 |
| `power` | `sum(w x^p) ^ (1/p)`, exponent `power`: p = 1 arithmetic, p = 0 geometric, p = -1 harmonic |

The power mean needs x > 0 for p <= 0 and x >= 0 for other p than 1.

A value the mean cannot take (a zero or negative child of a geometric or harmonic mean) is,
with `nonpositive: error` (the default, as COINr's `a_gmean` stops), an error naming the node
and the unit; with `nonpositive: missing` that unit's node is missing instead and the report
says why, while the other units are scored (a min-max score of 0 is the worst unit, so the
default refuses to drop it silently). `offset`, when given, is added to every child value
before any mean but the arithmetic one and subtracted from the result (so a shifted geometric
mean `exp(sum(w ln(x + offset))) - offset`; it equals no mean of the unshifted values, and the
result depends on the offset chosen, which the method file should record).

`aggregate_with_report` also returns the report: one row per unit and node left missing
although some child had a value, with its `reason` (`min_share` or `nonpositive`) and `detail`.

`aggregate` builds an `AggregationPlan` (which node, which children, which mean, which shift
and domain) from the framework and these settings and executes it on a units x indicators
matrix; the uncertainty analysis executes the same plan once per replication.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
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
    to 1 or overflowing. Below |p| = 1e-250 (subnormal products) it is the geometric mean, which
    differs from it by a relative O(p).
    """
    if abs(power) < 1e-250:
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


def framework_means(framework: Framework) -> dict[str, str]:
    """Per-node means the framework table names in its optional `aggregate` column."""
    if "aggregate" not in framework.table.columns:
        return {}
    table = framework.table[framework.table["level"] > 1].set_index("code")["aggregate"]
    return {code: str(m) for code, m in table.dropna().items() if str(m).strip()}


@dataclass(frozen=True, eq=False)
class PlanNode:
    """One aggregate node: where its children are and how they are combined."""

    code: str
    column: int  # its column in the score matrix
    child_columns: np.ndarray  # its children's columns in the score matrix
    child_rows: np.ndarray  # its children's rows in the framework table (weights)
    child_codes: tuple[str, ...]
    mean_name: str
    mean: Callable[[np.ndarray, np.ndarray], np.ndarray]  # AGGREGATORS[mean_name], `power` bound
    shift: float | None  # the offset added to the children and taken off the mean, or None
    strict: bool | None  # the domain: True x > 0, False x >= 0, None any value


@dataclass(frozen=True, eq=False)
class AggregationPlan:
    """The aggregation of a framework under fixed settings, built once and executed on matrices.

    `aggregate` executes it once; the uncertainty analysis once per replication, so that both
    run the same operations in the same order and agree bit for bit. The score matrix has the
    framework's indicators (in framework order) and then the aggregates (lowest level first)
    as columns; weights are one value per framework row, each used relative to its siblings'.
    """

    codes: tuple[str, ...]  # framework table order: the rows of a weight vector
    table_weights: np.ndarray  # the framework table's weight of every row
    indicators: tuple[str, ...]
    nodes: tuple[PlanNode, ...]
    threshold: float  # a node is missing below this share of its children's weight
    nonpositive: str = "error"  # a child outside the mean's domain: "error" or "missing" (that unit)

    @classmethod
    def build(
        cls,
        framework: Framework,
        method: str = "arithmetic",
        min_share: float = 0.0,
        *,
        by_level: Mapping[int, str] | None = None,
        by_node: Mapping[str, str] | None = None,
        power: float = 1.0,
        offset: float | None = None,
        nonpositive: str = "error",
    ) -> AggregationPlan:
        """The plan of `aggregate` with these settings (its docstring says what they mean)."""
        if nonpositive not in NONPOSITIVE:
            raise ValueError(f"nonpositive must be one of {list(NONPOSITIVE)}, not {nonpositive!r}")
        by_level = dict(by_level or {})
        by_node = dict(by_node or {})
        for name in [method, *by_level.values(), *by_node.values()]:
            _lookup(name)
        aggregates = [node for level in framework.levels[1:] for node in framework.nodes(level)]
        unknown = sorted(set(by_node) - set(aggregates))
        if unknown:
            raise ValueError(f"by_node names nodes that are not aggregates: {unknown}")
        codes = framework.table["code"].tolist()
        row_of = {code: i for i, code in enumerate(codes)}
        column_of = {code: i for i, code in enumerate(framework.indicators)}
        nodes = []
        for level in framework.levels[1:]:
            for code in framework.nodes(level):
                children = framework.children(code)["code"].tolist()
                name = by_node.get(code, by_level.get(level, method))
                shifted = offset is not None and name != "arithmetic"  # the arithmetic mean needs no shift
                column_of[code] = len(column_of)
                nodes.append(
                    PlanNode(
                        code=code,
                        column=column_of[code],
                        child_columns=np.array([column_of[c] for c in children], dtype="int64"),
                        child_rows=np.array([row_of[c] for c in children], dtype="int64"),
                        child_codes=tuple(children),
                        mean_name=name,
                        mean=partial(AGGREGATORS[name], power=power),
                        shift=offset if shifted else None,
                        strict=_strictly_positive(name, power),
                    )
                )
        table_weights = framework.column("weight").to_numpy(dtype="float64")
        return cls(
            tuple(codes),
            table_weights,
            tuple(framework.indicators),
            tuple(nodes),
            max(min_share, 1e-12),
            nonpositive,
        )

    @property
    def aggregates(self) -> list[str]:
        return [node.code for node in self.nodes]

    @property
    def columns(self) -> list[str]:
        """The codes of the score matrix's columns: the indicators, then the aggregates."""
        return [*self.indicators, *self.aggregates]

    @property
    def width(self) -> int:
        return len(self.indicators) + len(self.nodes)

    def weights(self, given: pd.Series | None = None) -> np.ndarray:
        """One weight per framework row: `given` (by code) for every parent whose children it
        names (all of them), the framework table's weights for the others."""
        out = self.table_weights.copy()
        if given is None:
            return out
        for node in self.nodes:
            if given.index.isin(node.child_codes).any():
                out[node.child_rows] = _given_weights(node, given)
        return out

    def execute(
        self,
        indicators: np.ndarray,
        weights: np.ndarray,
        units: Sequence,
        report: list | None = None,
        only: Collection[str] | None = None,
        in_place: bool = False,
    ) -> np.ndarray:
        """The score matrix (units x indicators, then aggregates) from `indicators` (units x
        indicators, framework order) and `weights` (one per framework row); `units` name the
        rows in errors and in the rows appended to `report` (the module doc's report).

        With `only`, `indicators` is a whole score matrix and only those nodes are recomputed
        (a weight changed below them: the other nodes cannot move), in it when `in_place`."""
        if only is None:
            scores = np.empty((indicators.shape[0], self.width))
            scores[:, : indicators.shape[1]] = indicators
        else:
            scores = indicators if in_place else indicators.copy()
        for node in self.nodes:
            if only is not None and node.code not in only:
                continue
            values = np.take(
                scores, node.child_columns, axis=1
            )  # C order: products and row sums round by layout
            child_weights = weights[node.child_rows]
            if node.shift is not None:
                values = values + node.shift
            bad = None if node.strict is None else _out_of_domain(values, node, units, self.nonpositive)
            present = np.where(~np.isnan(values), child_weights, 0.0).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = present / child_weights.sum()
            result = node.mean(values, child_weights)
            if node.shift is not None:
                result = result - node.shift
            kept = share >= self.threshold
            if bad is not None:
                kept &= ~bad
            scores[:, node.column] = np.where(kept, result, np.nan)
            if report is not None:
                report.extend(_removed(values, node, units, share, kept, bad))
        return scores


NONPOSITIVE = ("error", "missing")
REPORT_COLUMNS = ["unit", "node", "reason", "detail"]


def _out_of_domain(values: np.ndarray, node: PlanNode, units: Sequence, mode: str) -> np.ndarray | None:
    """Units (a row mask) with a child the mean cannot take; under `error` the first is raised."""
    with np.errstate(invalid="ignore"):
        bad = (values <= 0) if node.strict else (values < 0)
    if not bad.any():
        return None
    if mode == "missing":
        return bad.any(axis=1)
    row, column = np.argwhere(bad)[0]
    need = "positive" if node.strict else "non-negative"
    hint = "after the offset" if node.shift is not None else "(give an offset to shift them)"
    raise ValueError(
        f"{node.mean_name} mean of node {node.code!r}: unit {units[row]!r} has child "
        f"{node.child_codes[column]!r} = {values[row, column]:g}, the mean needs {need} values {hint}"
    )


def _removed(
    values: np.ndarray,
    node: PlanNode,
    units: Sequence,
    share: np.ndarray,
    kept: np.ndarray,
    bad: np.ndarray | None,
) -> list[tuple[str, str, str, str]]:
    """Report rows for the units whose node was removed although some child had a value."""
    rows = []
    for row in np.flatnonzero(~kept & (share > 0)):
        if bad is not None and bad[row]:
            with np.errstate(invalid="ignore"):
                column = int(np.argmax((values[row] <= 0) if node.strict else (values[row] < 0)))
            child = f"{node.child_codes[column]} = {values[row, column]:g}"
            rows.append((units[row], node.code, "nonpositive", f"{node.mean_name} mean of {child}"))
        else:
            rows.append((units[row], node.code, "min_share", f"weight share {share[row]:.4g} present"))
    return rows


def _given_weights(node: PlanNode, weights: pd.Series) -> np.ndarray:
    given = weights.reindex(list(node.child_codes))
    if given.isna().any():
        absent = given.index[given.isna()].tolist()
        raise ValueError(f"weights for the children of {node.code!r} are incomplete: missing {absent}")
    if (given < 0).any():
        raise ValueError(f"weights of the children of {node.code!r} must not be negative")
    return given.to_numpy(dtype="float64")


def aggregate(normalised: pd.DataFrame, framework: Framework, *args: Any, **options: Any) -> pd.DataFrame:
    """Scores of every aggregate node (columns) for every unit (rows), lowest level first.

    Takes `aggregate_with_report`'s arguments: `method` and `min_share`, then by keyword
    `by_level` (level -> method, overriding `method`), `by_node` (node code -> method,
    overriding both), `weights` (indexed by code; they replace the framework's weights of every
    parent whose children they name), `power` (the exponent of the `power` mean), `offset`
    (shifts the children before the mean) and `nonpositive` (what a child outside the mean's
    domain does, module doc).
    """
    return aggregate_with_report(normalised, framework, *args, **options)[0]


def aggregate_with_report(
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
    nonpositive: str = "error",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`aggregate`'s scores and the report of the nodes it removed (`unit, node, reason, detail`)."""
    plan = AggregationPlan.build(
        framework, method, min_share, by_level=by_level, by_node=by_node, power=power, offset=offset,
        nonpositive=nonpositive,
    )  # fmt: skip
    absent = [code for code in framework.indicators if code not in normalised.columns]
    if absent:
        raise ValueError(f"aggregate: no scores for the indicators {absent}")
    indicators = normalised[framework.indicators].to_numpy(dtype="float64")
    removed: list = []
    scores = plan.execute(indicators, plan.weights(weights), normalised.index, removed)
    out = {node.code: scores[:, node.column] for node in plan.nodes}
    report = pd.DataFrame(removed, columns=REPORT_COLUMNS).astype("str")
    return pd.DataFrame(out, index=normalised.index, columns=plan.aggregates), report
