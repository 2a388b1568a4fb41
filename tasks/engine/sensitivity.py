"""Uncertainty and sensitivity analysis of the index ranks (COINr's `get_sensitivity`, vectorised).

The method makes choices that could reasonably have been made otherwise: the weights, the
normalisation, the aggregation, whether to impute. Each uncertain choice is a `Choice`; a
replication draws one value of every choice, recomputes the index and ranks it. The ranks of
many replications say how firm each unit's rank is (`uncertainty`); the variance of the mean
absolute rank shift (over units, against the nominal ranks), split by choice, says which
choice matters (`sensitivity_indices`, `sensitivity`: Sobol indices via SALib).

Every choice is one input `u` in [0, 1):

- `alternatives` (one of a list): alternative number `floor(u * len(alternatives))`, which
  replaces the method's setting of the step `Choice.name` names (see `STEPS`):
  normalisation (`normalise.method`, any name of `tasks.engine.normalise.NORMALISERS`; per-indicator
  methods in `settings` still win), aggregation (`aggregate.method`; `by_level`, `by_node` and
  the framework's `aggregate` column still win, as in `tasks.engine.aggregate.aggregate`),
  imputation (`impute.method`: "none" leaves values missing and the means renormalise over
  the children present, "mean" fills column means before normalising, ...) or weighting
  (`weight.method`: "framework", "equal", "pca").
- `weight_noise`: each node's weight relative to its siblings multiplied by
  U(1 - noise, 1 + noise), independently per node, renormalised within its parent. As COINr
  does (`get_noisy_weights`, then a discrete distribution over the noisy sets), a seeded bank
  of noisy weight sets is drawn first and `u` picks set `floor(u * bank size)`, so that a
  replication is a deterministic function of its inputs, which the Sobol estimators need.
  The renormalisation is implicit: every mean and the `min_share` test divide by the sum of
  the siblings' weights, so the multiplied weights are used as they are.

Designs (both reproducible from `seed`):

- `uncertainty(..., design="random")` (default): `n` independent uniform draws of every
  choice; the rank intervals and the per-unit summary come from these.
- `uncertainty(..., design="sobol")`, `sensitivity(...)`: SALib's Saltelli/Sobol' design
  (`SALib.sample.sobol.sample`, `calc_second_order=False`, scrambled with `seed`) with `n`
  base samples, i.e. `n * (k + 2)` replications for `k` choices (use a power of two for `n`);
  `sensitivity_indices` analyses its output with `SALib.analyze.sobol.analyze`.

How it is fast: the steps up to the weights (denominate, screen, impute, treat, normalise,
weight) run through `tasks.engine.index.compute_index` once per distinct (imputation,
normalisation, weighting) variant, never per replication. A replication then only aggregates
that normalised matrix node by node with numpy, with the project's mean functions
(`tasks.engine.aggregate.AGGREGATORS`) under the rules of `tasks.engine.aggregate.aggregate` (offset,
domain check, missing children, `min_share`), and only the index column is ranked, all
replications at once. Replications with identical inputs are computed once.

With every choice at the method's own setting (zero noise) the index is `compute_index`'s,
bit for bit, and the ranks are `tasks.engine.results.rank`'s (highest first, ties share the better
rank). The units are those `compute_index` keeps (after screening).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample

from tasks.engine import aggregate as aggregate_module
from tasks.engine.framework import Framework
from tasks.engine.index import compute_index
from tasks.engine.method import Method

KINDS = ("weight_noise", "alternatives")
# Choice name (case-insensitive) -> the section of the method whose `method` the alternatives replace.
STEPS = {
    "normalisation": "normalise",
    "normalization": "normalise",
    "normalise": "normalise",
    "aggregation": "aggregate",
    "aggregate": "aggregate",
    "imputation": "impute",
    "impute": "impute",
    "weighting": "weight",
    "weight": "weight",
}
WEIGHT_BANK = 4096  # least number of noisy weight sets a weight_noise input picks from
_VARIANT_STEPS = ("impute", "normalise", "weight")  # the steps compute_index runs per variant


@dataclass(frozen=True)
class Choice:
    """One uncertain input of the method (the module docstring says how it is sampled)."""

    name: str  # "weights" (weight_noise); "normalisation", "aggregation", "imputation", "weighting"
    kind: str  # "weight_noise" or "alternatives"
    noise: float = 0.0  # weight_noise: relative weights x U(1 - noise, 1 + noise)
    alternatives: tuple = ()  # alternatives: e.g. ("minmax", "zscore"), ("arithmetic", "geometric")

    def __post_init__(self) -> None:
        object.__setattr__(self, "alternatives", tuple(self.alternatives))
        if self.kind not in KINDS:
            raise ValueError(f"choice {self.name!r}: kind must be one of {list(KINDS)}, not {self.kind!r}")
        if self.kind == "weight_noise":
            if not 0.0 <= self.noise < 1.0:
                raise ValueError(f"choice {self.name!r}: noise must be in [0, 1), not {self.noise}")
            if self.alternatives:
                raise ValueError(f"choice {self.name!r}: weight_noise takes no alternatives")
        else:
            if not self.alternatives:
                raise ValueError(f"choice {self.name!r}: alternatives needs at least one alternative")
            if self.name.lower() not in STEPS:
                raise ValueError(
                    f"choice {self.name!r}: the name must say which step it replaces, one of {sorted(STEPS)}"
                )

    @property
    def step(self) -> str:
        """The method section whose `method` the alternatives replace, or `weight_noise`."""
        return "weight_noise" if self.kind == "weight_noise" else STEPS[self.name.lower()]

    def values(self, u: np.ndarray) -> np.ndarray:
        """The sampled value for inputs `u` in [0, 1): `u` itself (weight_noise) or the alternative index."""
        if self.kind == "weight_noise":
            return np.asarray(u, dtype="float64")
        count = len(self.alternatives)
        return np.clip(np.floor(np.asarray(u) * count), 0, count - 1).astype("int64")


@dataclass(frozen=True)
class UncertaintyResult:
    ranks: pd.DataFrame  # replications x units: the index rank in each replication (Int64)
    summary: pd.DataFrame  # per unit: nominal_rank, median_rank, q05, q95 (5-95 %), mean_abs_shift
    samples: pd.DataFrame  # replications x choices: u in [0, 1) (weight_noise) or the alternative index
    shift: pd.Series  # per replication: mean absolute rank shift over units, the output Sobol decomposes
    design: str = "random"  # "random", or "sobol": a Saltelli design that sensitivity_indices analyses
    seed: int = 0


def uncertainty(
    raw: pd.DataFrame,
    framework: Framework,
    method: Method,
    choices: Sequence[Choice],
    n: int = 1000,
    seed: int = 0,
    *,
    design: str = "random",
    denominators: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    settings: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
) -> UncertaintyResult:
    """Rank every unit under `n` draws of the uncertain choices (`n` base samples if design="sobol").

    `raw`, `denominators`, `groups`, `settings` and `history` are what `compute_index` takes.
    """
    choices = _checked(choices)
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    design_seed, bank_seed = np.random.SeedSequence(seed).spawn(2)
    if design == "random":
        u = np.random.default_rng(design_seed).random((n, len(choices)))
    elif design == "sobol":
        u = sobol_sample.sample(_problem(choices), n, calc_second_order=False, seed=seed)
    else:
        raise ValueError(f"design must be 'random' or 'sobol', not {design!r}")
    samples = pd.DataFrame(
        {choice.name: choice.values(u[:, j]) for j, choice in enumerate(choices)},
        index=pd.RangeIndex(len(u), name="replication"),
    )
    inputs = {"denominators": denominators, "groups": groups, "settings": settings, "history": history}
    engine = _Engine(
        raw, framework, method, {key: value for key, value in inputs.items() if value is not None}
    )
    scores = engine.replicate(choices, samples, np.random.default_rng(bank_seed))
    ranks = _rank_rows(scores)
    nominal = _rank_rows(engine.nominal()[None, :])[0]
    return _result(ranks, nominal, samples, engine.units, design, seed)


def sensitivity_indices(
    result: UncertaintyResult,
    choices: Sequence[Choice],
    *,
    num_resamples: int = 100,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """First-order (S1) and total (ST) Sobol indices of the mean absolute rank shift, per choice.

    `result` must come from `uncertainty(..., design="sobol")` with the same choices.
    `S1_conf` and `ST_conf` are SALib's bootstrap confidence half-widths at `conf_level`.
    When no replication moves any rank there is nothing to apportion: every index is 0.
    """
    choices = _checked(choices)
    if result.design != "sobol":
        raise ValueError(
            "Sobol indices need the Saltelli design: run uncertainty(..., design='sobol') or sensitivity()"
        )
    names = [choice.name for choice in choices]
    if list(result.samples.columns) != names:
        raise ValueError(f"the result was sampled for {list(result.samples.columns)}, not {names}")
    y = result.shift.to_numpy(dtype="float64")
    if len(y) % (len(choices) + 2):
        raise ValueError(f"{len(y)} replications are not a Saltelli design over {len(choices)} choices")
    if not np.isfinite(y).all():
        raise ValueError("some replications ranked no unit (their index is missing everywhere)")
    index = pd.Index(names, name="choice")
    if np.ptp(y) == 0:
        return pd.DataFrame(0.0, index=index, columns=["S1", "S1_conf", "ST", "ST_conf"])
    si = sobol_analyze.analyze(
        _problem(choices),
        y,
        calc_second_order=False,
        num_resamples=num_resamples,
        conf_level=conf_level,
        seed=result.seed,
    )
    return pd.DataFrame({key: np.asarray(si[key]) for key in ("S1", "S1_conf", "ST", "ST_conf")}, index=index)


def sensitivity(
    raw: pd.DataFrame,
    framework: Framework,
    method: Method,
    choices: Sequence[Choice],
    n_base: int = 256,
    seed: int = 0,
    **inputs: pd.DataFrame | None,
) -> pd.DataFrame:
    """Sobol indices (S1, ST with confidence) per choice from `n_base * (k + 2)` replications.

    `inputs` are `compute_index`'s extra tables (denominators, groups, settings).
    """
    result = uncertainty(raw, framework, method, choices, n=n_base, seed=seed, design="sobol", **inputs)
    return sensitivity_indices(result, choices)


# -- sampling and results -----------------------------------------------------------------------


def _checked(choices: Sequence[Choice]) -> list[Choice]:
    choices = list(choices)
    if not choices:
        raise ValueError("at least one choice is needed")
    for label, items in (("names", [c.name for c in choices]), ("steps", [c.step for c in choices])):
        repeated = sorted({item for item in items if items.count(item) > 1})
        if repeated:
            raise ValueError(f"choices repeat the {label} {repeated}: one choice per name and per step")
    return choices


def _problem(choices: Sequence[Choice]) -> dict:
    return {
        "num_vars": len(choices),
        "names": [choice.name for choice in choices],
        "bounds": [[0.0, 1.0]] * len(choices),
    }


def _rank_rows(scores: np.ndarray) -> np.ndarray:
    """Rank every row's units, highest first, ties sharing the better rank (`tasks.engine.results.rank`)."""
    return pd.DataFrame(scores).rank(axis=1, ascending=False, method="min", na_option="keep").to_numpy()


def _result(
    ranks: np.ndarray, nominal: np.ndarray, samples: pd.DataFrame, units: pd.Index, design: str, seed: int
) -> UncertaintyResult:
    shifts = np.abs(ranks - nominal[None, :])
    with warnings.catch_warnings():  # a unit ranked in no replication: NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(ranks, axis=0)
        q05, q95 = np.nanquantile(ranks, [0.05, 0.95], axis=0)
        unit_shift = np.nanmean(shifts, axis=0)
        replication_shift = np.nanmean(shifts, axis=1)
    summary = pd.DataFrame(
        {
            "nominal_rank": pd.array(nominal, dtype="Float64").astype("Int64"),
            "median_rank": median,
            "q05": q05,
            "q95": q95,
            "mean_abs_shift": unit_shift,
        },
        index=units,
    )
    table = pd.DataFrame(ranks, index=samples.index, columns=units).astype("Int64")
    shift = pd.Series(replication_shift, index=samples.index, name="mean_abs_rank_shift")
    return UncertaintyResult(table, summary, samples, shift, design, seed)


# -- the engine ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    code: str
    level: int
    column: int  # its column in the score matrix
    child_columns: np.ndarray  # its children's columns in the score matrix
    child_rows: np.ndarray  # its children's rows in the framework table (weights, noise)


@dataclass(frozen=True)
class _Variant:
    normalised: np.ndarray  # units x indicators, framework order
    weights: np.ndarray  # per framework row, relative within the parent


class _Engine:
    """The index of one dataset under any combination of choices; the heavy steps once per variant."""

    def __init__(self, raw: pd.DataFrame, framework: Framework, method: Method, inputs: dict) -> None:
        self.raw, self.framework, self.method, self.inputs = raw, framework, method, inputs
        table = framework.table
        self.codes = table["code"].tolist()
        row_of = {code: i for i, code in enumerate(self.codes)}
        column_of = {code: i for i, code in enumerate(framework.indicators)}
        self.nodes: list[_Node] = []
        for level in framework.levels[1:]:
            for code in framework.nodes(level):
                children = framework.children(code)["code"].tolist()
                column_of[code] = len(column_of)
                self.nodes.append(
                    _Node(
                        code,
                        int(level),
                        column_of[code],
                        np.array([column_of[c] for c in children], dtype="int64"),
                        np.array([row_of[c] for c in children], dtype="int64"),
                    )
                )
        self.width = len(column_of)
        self.root_column = column_of[framework.root]
        self.by_node = _framework_by_node(framework) | dict(method.aggregate.by_node)
        self.units: pd.Index | None = None
        self._variants: dict[tuple[str, str, str], _Variant] = {}
        self._means: dict[str, list[tuple[str, Callable]]] = {}

    def variant(self, imputation: str, normalisation: str, weighting: str) -> _Variant:
        """Normalised data and relative weights from `compute_index` with these three settings."""
        key = (imputation, normalisation, weighting)
        if key not in self._variants:
            method = self.method
            for step, value in zip(_VARIANT_STEPS, key, strict=True):
                method = _with_method(method, step, value)
            # Aggregation is the engine's job: let compute_index use plain means everywhere the
            # method leaves the choice open, so that an alternative normalisation which the
            # method's own mean cannot take (zscore under a geometric mean) is no error here.
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
            used = getattr(stages, "weights", None)
            if used is None:  # a compute_index that does not report its weights uses the framework's
                used = self.framework.column("weight")
            weights = used.reindex(self.codes).to_numpy(dtype="float64")
            self._variants[key] = _Variant(normalised[self.framework.indicators].to_numpy("float64"), weights)
        return self._variants[key]

    def means(self, base: str) -> list[tuple[str, Callable]]:
        """(mean name, mean function) of every node when the aggregation is `base`."""
        if base not in self._means:
            by_level = self.method.aggregate.by_level
            registry = getattr(aggregate_module, "AGGREGATORS", {})
            means = []
            for node in self.nodes:
                name = self.by_node.get(node.code, by_level.get(node.level, base))
                if name not in registry:
                    raise ValueError(f"unknown aggregation {name!r}; known: {sorted(registry)}")
                means.append((name, _with_power(registry[name], self.method.aggregate.power)))
            self._means[base] = means
        return self._means[base]

    def index(self, variant: _Variant, weights: np.ndarray, aggregation: str) -> np.ndarray:
        """Index score of every unit, the nodes aggregated as `tasks.engine.aggregate.aggregate` does."""
        settings = self.method.aggregate
        offset, threshold = settings.offset, max(settings.min_share, 1e-12)
        normalised = variant.normalised
        scores = np.empty((normalised.shape[0], self.width))
        scores[:, : normalised.shape[1]] = normalised
        for node, (name, mean) in zip(self.nodes, self.means(aggregation), strict=True):
            values = scores[:, node.child_columns]
            child_weights = weights[node.child_rows]
            shifted = offset is not None and name != "arithmetic"  # as tasks.engine.aggregate.aggregate
            if shifted:
                values = values + offset
            _check_domain(values, name, settings.power, node.code, self.units, shifted)
            present = np.where(~np.isnan(values), child_weights, 0.0).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = present / child_weights.sum()
            result = mean(values, child_weights)
            if shifted:
                result = result - offset
            scores[:, node.column] = np.where(share >= threshold, result, np.nan)
        return scores[:, self.root_column]

    def nominal(self) -> np.ndarray:
        method = self.method
        variant = self.variant(method.impute.method, method.normalise.method, method.weight.method)
        return self.index(variant, variant.weights, method.aggregate.method)

    def replicate(self, choices: list[Choice], samples: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Index scores, replications x units, for the sampled choices (identical rows computed once)."""
        rows = len(samples)
        columns = {
            step: np.full(rows, getattr(self.method, step).method, dtype=object)
            for step in ("impute", "normalise", "weight", "aggregate")
        }
        picks = np.zeros(rows, dtype="int64")
        bank = None
        for choice in choices:
            values = samples[choice.name].to_numpy()
            if choice.kind == "alternatives":
                columns[choice.step] = np.asarray(choice.alternatives, dtype=object)[values]
            else:
                size = max(WEIGHT_BANK, rows)
                bank = rng.uniform(1.0 - choice.noise, 1.0 + choice.noise, size=(size, len(self.codes)))
                picks = np.minimum((values * size).astype("int64"), size - 1)
        keys = list(zip(*(columns[step] for step in (*_VARIANT_STEPS, "aggregate")), picks, strict=True))
        for settings in dict.fromkeys(key[:3] for key in keys):  # every variant first: errors early
            self.variant(*settings)
        out = np.empty((rows, len(self.units)))
        first: dict[tuple, int] = {}
        for row, key in enumerate(keys):
            if key in first:
                out[row] = out[first[key]]
                continue
            first[key] = row
            variant = self.variant(*key[:3])
            weights = variant.weights if bank is None else variant.weights * bank[key[4]]
            out[row] = self.index(variant, weights, key[3])
        return out


def _with_method(method: Method, step: str, value: str, **more: object) -> Method:
    """`method` with section `step`'s `method` set to `value` (validated by the section's schema)."""
    section = getattr(method, step)
    if section.method == value and all(getattr(section, k) == v for k, v in more.items()):
        return method
    changed = type(section).model_validate({**section.model_dump(), "method": value, **more})
    return method.model_copy(update={step: changed})


def _framework_by_node(framework: Framework) -> dict[str, str]:
    """Per-node means the framework table names in its optional `aggregate` column (as compute_index)."""
    table = framework.table
    if "aggregate" not in table.columns:
        return {}
    named = table.loc[table["level"] > 1].set_index("code")["aggregate"].dropna()
    return {str(code): str(name) for code, name in named.items() if str(name).strip()}


def _with_power(function: Callable, power: float) -> Callable:
    """Pass the method's `power` to a mean function that takes it (all of today's do)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return function
    takes = any(p.name == "power" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return partial(function, power=power) if takes else function


def _check_domain(
    values: np.ndarray, name: str, power: float, node: str, units: pd.Index, shifted: bool
) -> None:
    """Geometric and harmonic means need x > 0; power means x > 0 (p <= 0) or x >= 0 (p != 1)."""
    if name in ("geometric", "harmonic") or (name == "power" and power <= 0):
        strict = True
    elif name == "power" and power != 1:
        strict = False
    else:
        return
    with np.errstate(invalid="ignore"):
        bad = (values <= 0) if strict else (values < 0)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        hint = "after the offset" if shifted else "(set aggregate.offset, or normalise to a positive range)"
        raise ValueError(
            f"{name} mean of node {node!r}: unit {units[row]!r} has a child scored {values[row, column]:g}; "
            f"the mean needs {'positive' if strict else 'non-negative'} values {hint}"
        )
