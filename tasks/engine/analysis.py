"""What an index says beyond scores and ranks: contributions, strengths, rank uncertainty.

Each returns a tidy table to publish beside the scores. The uncertainty analysis runs only
when the method file asks for it (`uncertainty.replications`, `uncertainty.sensitivity_base`).
"""

from __future__ import annotations

import pandas as pd

from tasks.engine.choices import Choice
from tasks.engine.framework import Framework
from tasks.engine.index import IndexStages
from tasks.engine.method import Method
from tasks.engine.results import contributions, strengths_weaknesses
from tasks.engine.sensitivity import sensitivity_indices, uncertainty


def analyse(
    stages: IndexStages,
    framework: Framework,
    method: Method,
    unit: str = "unit",
    **inputs: pd.DataFrame | None,
) -> dict[str, pd.DataFrame]:
    """Contribution of each dimension, strengths and weaknesses, and (if asked) rank uncertainty.

    `inputs` are `compute_index`'s extra tables (denominators, groups, settings), so that the
    replications see the same data the nominal index saw.
    """
    table = pd.concat([stages.normalised, stages.aggregated], axis=1)
    parts = contributions(table, framework, stages.weights).rename_axis(unit)
    out = {
        "contributions": parts.stack(future_stack=True)
        .rename("contribution")
        .rename_axis([unit, "node"])
        .reset_index(),
        "strengths": strengths_weaknesses(stages.scores, unit=unit),
    }
    settings = method.uncertainty
    choices = [Choice(c.name, c.kind, c.noise, tuple(c.alternatives)) for c in settings.choices]
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
