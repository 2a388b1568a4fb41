"""Uncertainty and sensitivity analysis of the index ranks (COINr's `get_sensitivity`, vectorised).

The method makes choices that could reasonably have been made otherwise: the weights, the
normalisation, the aggregation, whether to impute. Each uncertain choice is a `Choice`; a
replication draws one value of every choice, recomputes the index and ranks it. The ranks of
many replications say how firm each unit's rank is (`uncertainty`); the variance of the mean
absolute rank shift (over units, against the nominal ranks), split by choice, says which
choice matters (`sensitivity_indices`, `sensitivity`: Sobol indices via SALib).

Every choice is one input `u` in [0, 1):

- `alternatives` (one of a list): alternative number `floor(u * len(alternatives))`, which
  replaces the method's setting of the step `Choice.name` names (`tasks.engine.choices.STEPS`):
  normalisation (`normalise.method`, any name of `tasks.engine.normalise.NORMALISERS`; per-indicator
  methods in `settings` still win), aggregation (`aggregate.method`; `by_level`, `by_node` and
  the framework's `aggregate` column still win, as in `tasks.engine.aggregate.aggregate`),
  imputation (`impute.method`: "none" leaves values missing and the means renormalise over
  the children present, "mean" fills column means before normalising, ...) or weighting
  (`weight.method`, any name of `tasks.engine.weight.WEIGHTERS`).
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

How it is fast: `tasks.engine.montecarlo.MonteCarlo` runs the heavy steps once per variant and
a replication only executes the aggregation plan `tasks.engine.aggregate.aggregate` executes;
only the index column is ranked, all replications at once.

With every choice at the method's own setting (zero noise) the index is `compute_index`'s,
bit for bit, and the ranks are `tasks.engine.results.rank`'s (highest first, ties share the better
rank). The units are those `compute_index` keeps (after screening).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.engine.choices import Choice, checked_choices
from tasks.engine.framework import Framework
from tasks.engine.method import Method
from tasks.engine.montecarlo import MonteCarlo


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
    choices = checked_choices(choices)
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    design_seed, bank_seed = np.random.SeedSequence(seed).spawn(2)
    if design == "random":
        u = np.random.default_rng(design_seed).random((n, len(choices)))
    elif design == "sobol":
        from SALib.sample import sobol as sobol_sample

        u = sobol_sample.sample(_problem(choices), n, calc_second_order=False, seed=seed)
    else:
        raise ValueError(f"design must be 'random' or 'sobol', not {design!r}")
    samples = pd.DataFrame(
        {choice.name: choice.values(u[:, j]) for j, choice in enumerate(choices)},
        index=pd.RangeIndex(len(u), name="replication"),
    )
    inputs = {"denominators": denominators, "groups": groups, "settings": settings, "history": history}
    engine = MonteCarlo(
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
    choices = checked_choices(choices)
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
    from SALib.analyze import sobol as sobol_analyze

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
