"""What an index says beyond scores and ranks: contributions, strengths, structure, rank uncertainty.

Each returns a tidy table to publish beside the scores. The uncertainty analysis runs only
when the method file asks for it (`uncertainty.replications`, `uncertainty.sensitivity_base`).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from tasks.engine.audit import leave_one_out, pca_by_node
from tasks.engine.correlation import node_correlations
from tasks.engine.framework import Framework
from tasks.engine.index import IndexStages
from tasks.engine.method import Method, MethodError
from tasks.engine.results import contributions, strengths_weaknesses
from tasks.engine.sensitivity import sensitivity_indices, uncertainty


def analyse(
    stages: IndexStages,
    framework: Framework,
    method: Method,
    unit: str = "unit",
    **inputs: pd.DataFrame | None,
) -> dict[str, pd.DataFrame]:
    """Contributions, strengths and weaknesses, and (if asked) rank uncertainty.

    `inputs` are `compute_index`'s extra tables (denominators, groups, settings), so that the
    replications see the same data the nominal index saw. Stages of panel data (a (unit,
    time) index) are analysed period by period; their uncertainty analysis is refused.
    """
    table = pd.concat([stages.normalised, stages.aggregated], axis=1)
    time = str(table.index.names[1]) if table.index.nlevels == 2 else None
    keys = [unit] if time is None else [unit, time]
    parts = contributions(table, framework, stages.weights).rename_axis(keys)
    out = {
        "contributions": parts.stack(future_stack=True)
        .rename("contribution")
        .rename_axis([*keys, "node"])
        .reset_index(),
        "strengths": strengths_weaknesses(stages.scores, unit=keys if time else unit),
    }
    settings = method.uncertainty
    choices = [c.choice() for c in settings.choices]
    if choices and time and (settings.replications or settings.sensitivity_base):
        raise MethodError("the uncertainty analysis scores one period: give it a table without Time")
    if choices and settings.replications:
        result = uncertainty(
            stages.raw, framework, method, choices, n=settings.replications, seed=settings.seed, **inputs
        )
        out["uncertainty"] = result.summary.rename_axis(unit).reset_index()
    if choices and settings.sensitivity_base:
        design = uncertainty(
            stages.raw, framework, method, choices, n=settings.sensitivity_base, seed=settings.seed,
            design="sobol", **inputs,
        )  # fmt: skip
        out["sensitivity"] = sensitivity_indices(design, choices).reset_index()
    return out


def audit(
    stages: IndexStages,
    framework: Framework,
    method: Method,
    unit: str = "unit",
    publish: Callable[[dict[str, pd.DataFrame]], object] | None = None,
    correlations: bool = True,
) -> dict[str, pd.DataFrame]:
    """The structure checks COINr users run: correlations and Cronbach's alpha, PCA of each
    aggregate's children, leave-one-out rank shifts (the summary and the per-unit table).

    `coopindex score --audit` writes them; an edition publishes them too, with correlations of
    its own (`correlations=False` leaves them out). `publish`, when given, gets the
    leave-one-out tables as soon as they are done, so that a caller can write them while the
    correlations are computed.
    """
    table = pd.concat([stages.normalised, stages.aggregated], axis=1)
    time = str(table.index.names[1]) if table.index.nlevels == 2 else None
    summary, per_unit = leave_one_out(table, framework, method, stages.weights)
    removals = {
        "leave_one_out": summary,
        "leave_one_out_units": per_unit.rename_axis([unit] if time is None else [unit, time]).reset_index(),
    }
    if publish is not None:
        publish(removals)
    pca = _by_period(table, time, lambda wide, rows: pca_by_node(wide, framework), stages.scores)
    if not correlations:
        return {"pca": pca, **removals}
    return {
        "correlations": _by_period(
            table, time, lambda wide, rows: node_correlations(rows, unit=unit, wide=wide), stages.scores
        ),
        "pca": pca,
        **removals,
    }


def _by_period(
    wide: pd.DataFrame,
    time: str | None,
    run: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
    scores: pd.DataFrame,
) -> pd.DataFrame:
    """`run(wide, long scores)` once, or once per period with a `time` column first."""
    if time is None:
        return run(wide, scores)
    parts = []
    for period, rows in scores.groupby(time, sort=True):
        part = run(wide.xs(period, level=time), rows.drop(columns=time))
        part.insert(0, time, period)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
