"""The index of one dataset under many combinations of the uncertain choices, fast.

The steps up to the weights (denominate, screen, impute, treat, normalise, weight) run through
`tasks.engine.index.compute_index` once per distinct (imputation, normalisation, weighting)
variant, never per replication. A replication then only executes the `AggregationPlan` of
its aggregation (built once per aggregation name, the plan `tasks.engine.aggregate.aggregate`
executes) on that variant's normalised matrix, with its weights. Replications with identical
inputs are computed once.

A `weight_noise` input `u` picks one of a seeded bank of noisy weight sets (at least
`WEIGHT_BANK`), so that a replication is a deterministic function of its inputs, which the
Sobol estimators need. The noisy weights are used as they are: every mean and the `min_share`
test divide by the sum of the siblings' weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.engine.aggregate import AggregationPlan, framework_means
from tasks.engine.choices import Choice, with_parameter
from tasks.engine.framework import Framework
from tasks.engine.index import compute_index
from tasks.engine.method import Method

WEIGHT_BANK = 4096  # least number of noisy weight sets a weight_noise input picks from
VARIANT_STEPS = ("impute", "normalise", "weight")  # the steps compute_index runs per variant


@dataclass(frozen=True, eq=False)
class Variant:
    """What `compute_index` gives under one (imputation, normalisation, weighting)."""

    normalised: np.ndarray  # units x indicators, framework order
    weights: np.ndarray  # per framework row, relative within the parent


class MonteCarlo:
    """The index of one dataset under any combination of choices; the heavy steps once per variant."""

    def __init__(self, raw: pd.DataFrame, framework: Framework, method: Method, inputs: dict) -> None:
        """`inputs` are `compute_index`'s extra tables (denominators, groups, settings, history)."""
        self.raw, self.framework, self.method, self.inputs = raw, framework, method, inputs
        self.units: pd.Index | None = None
        self._variants: dict[tuple, Variant] = {}
        self._plans: dict[tuple, AggregationPlan] = {}

    def variant(self, imputation: str, normalisation: str, weighting: str, parameters: tuple = ()) -> Variant:
        """Normalised data and relative weights from `compute_index` with these three settings
        and `parameters` ((path, value) pairs of `parameter` choices outside `aggregate`)."""
        key = (imputation, normalisation, weighting, parameters)
        if key not in self._variants:
            method = self.method
            for step, value in zip(VARIANT_STEPS, key[:3], strict=True):
                method = _with_method(method, step, value)
            for path, value in parameters:
                method = with_parameter(method, path, value)
            # Aggregation is the plans' job: compute_index uses plain means wherever the method
            # leaves the choice open, so that an alternative normalisation which the method's
            # own mean cannot take (zscore under a geometric mean) is no error here.
            method = _with_method(method, "aggregate", "arithmetic", by_level={})
            stages = compute_index(self.raw, self.framework, method, **self.inputs)
            normalised = stages.normalised
            if self.units is None:
                self.units = normalised.index
            elif not normalised.index.equals(self.units):
                raise ValueError(
                    f"(imputation, normalisation, weighting) = {key} scores other units than "
                    f"{next(iter(self._variants))}: ranks could not be compared (screening on "
                    "imputed data? an imputation choice needs screen.after = 'denominate')"
                )
            weights = stages.weights.reindex(self.framework.table["code"]).to_numpy(dtype="float64")
            self._variants[key] = Variant(normalised[self.framework.indicators].to_numpy("float64"), weights)
        return self._variants[key]

    def plan(self, aggregation: str, parameters: tuple = ()) -> AggregationPlan:
        """The method's aggregation with `aggregation` as its `aggregate.method` and `parameters`
        ((path, value) pairs of `aggregate.*`), built once."""
        if (aggregation, parameters) not in self._plans:
            method = self.method
            for path, value in parameters:
                method = with_parameter(method, path, value)
            settings = method.aggregate
            self._plans[(aggregation, parameters)] = AggregationPlan.build(
                self.framework,
                aggregation,
                settings.min_share,
                by_level=settings.by_level,
                by_node=framework_means(self.framework) | dict(settings.by_node),
                power=settings.power,
                offset=settings.offset,
                nonpositive=settings.nonpositive,
            )
        return self._plans[(aggregation, parameters)]

    def index(
        self, variant: Variant, weights: np.ndarray, aggregation: str, parameters: tuple = ()
    ) -> np.ndarray:
        """Index score of every unit: the plan of `aggregation` executed on the variant."""
        plan = self.plan(aggregation, parameters)
        scores = plan.execute(variant.normalised, weights, self.units)
        return scores[:, plan.columns.index(self.framework.root)]

    def nominal(self) -> np.ndarray:
        """Index score of every unit under the method's own choices (compute_index's, bit for bit)."""
        method = self.method
        variant = self.variant(method.impute.method, method.normalise.method, method.weight.method)
        return self.index(variant, variant.weights, method.aggregate.method)

    def replicate(self, choices: list[Choice], samples: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Index scores, replications x units, for the sampled choices (identical rows computed once)."""
        rows = len(samples)
        columns = {
            step: np.full(rows, getattr(self.method, step).method, dtype=object)
            for step in (*VARIANT_STEPS, "aggregate")
        }
        picks = np.zeros(rows, dtype="int64")
        before, after = [()] * rows, [()] * rows  # parameter settings of the variant, of the plan
        bank = None
        for choice in choices:
            values = samples[choice.name].to_numpy()
            if choice.kind == "alternatives":
                columns[choice.step] = np.asarray(choice.alternatives, dtype=object)[values]
            elif choice.kind == "parameter":
                side = after if choice.path.startswith("aggregate.") else before
                for row, value in enumerate(values):
                    side[row] = (*side[row], (choice.path, choice.alternatives[value]))
            else:
                size = max(WEIGHT_BANK, rows)
                bank = rng.uniform(
                    1.0 - choice.noise, 1.0 + choice.noise, size=(size, len(self.framework.table))
                )
                picks = np.minimum((values * size).astype("int64"), size - 1)
        steps = (columns[step] for step in (*VARIANT_STEPS, "aggregate"))
        keys = list(zip(*steps, picks, before, after, strict=True))
        for key in dict.fromkeys((*key[:3], key[5]) for key in keys):  # every variant and plan first
            self.variant(*key)
        for key in dict.fromkeys((key[3], key[6]) for key in keys):
            self.plan(*key)
        out = np.empty((rows, len(self.units)))
        first: dict[tuple, int] = {}
        for row, key in enumerate(keys):
            if key in first:
                out[row] = out[first[key]]
                continue
            first[key] = row
            variant = self.variant(*key[:3], key[5])
            weights = variant.weights if bank is None else variant.weights * bank[key[4]]
            out[row] = self.index(variant, weights, key[3], key[6])
        return out


def _with_method(method: Method, step: str, value: str, **more: object) -> Method:
    """`method` with section `step`'s `method` set to `value` (validated by the section's schema)."""
    section = getattr(method, step)
    if section.method == value and all(getattr(section, k) == v for k, v in more.items()):
        return method
    changed = type(section).model_validate({**section.model_dump(), "method": value, **more})
    return method.model_copy(update={step: changed})
