"""Benchmark of the scoring engine and of the uncertainty analysis, on seeded synthetic data.

    .venv/bin/python bench/bench_engine.py           # full size (targets in bench/README.md)
    .venv/bin/python bench/bench_engine.py --quick   # tiny sizes, a smoke test (the test suite runs it)

(a) `tasks.engine.index.compute_index` end to end, against the irreducible arithmetic: the same
    min-max normalisation and weighted mean as one numpy matrix product over all indicators.
(b) `tasks.engine.sensitivity.uncertainty`, against the naive way: one replication's cost (a new
    framework with noisy weights, a method with the sampled choices, `compute_index`, rank)
    times the number of replications.

Prints wall times and ratios; speed goals are targets, not tests, so it always exits 0
when the code runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.engine.aggregate import aggregate  # noqa: E402
from tasks.engine.framework import Framework  # noqa: E402
from tasks.engine.index import compute_index  # noqa: E402
from tasks.engine.method import Method  # noqa: E402
from tasks.engine.normalise import normalise  # noqa: E402
from tasks.engine.results import rank, score_table  # noqa: E402
from tasks.engine.sensitivity import Choice, sensitivity, uncertainty  # noqa: E402

MISSING = 0.02  # share of missing values in the synthetic data


@dataclass(frozen=True)
class Size:
    units: int
    branching: tuple[int, ...]  # children per node from the root down, e.g. (5, 4, 5): 5 x 4 x 5 indicators


FULL = {"scoring": Size(10_000, (5, 4, 5)), "uncertainty": Size(300, (5, 5)), "replications": 1000}
QUICK = {"scoring": Size(300, (2, 2, 5)), "uncertainty": Size(50, (2, 5)), "replications": 20}


def synthetic_framework(branching: tuple[int, ...], rng: np.random.Generator) -> Framework:
    """A balanced tree: the root, then `branching[i]` children per node on each level down."""
    top = len(branching) + 1
    rows = [("index", "", top, 1.0, 1)]
    parents = ["index"]
    for depth, count in enumerate(branching):
        level = top - depth - 1
        prefix = "i" if level == 1 else f"n{level}_"
        children = []
        for parent in parents:
            for _ in range(count):
                code = f"{prefix}{len(children) + 1:03d}"
                direction = int(rng.choice([1, -1], p=[0.8, 0.2])) if level == 1 else 1
                rows.append((code, parent, level, float(rng.integers(1, 4)), direction))
                children.append(code)
        parents = children
    table = pd.DataFrame(rows, columns=["code", "parent", "level", "weight", "direction"])
    return Framework.from_table(table)


def synthetic_data(framework: Framework, units: int, rng: np.random.Generator) -> pd.DataFrame:
    """Units x indicators: a latent quality plus noise, skewed, with `MISSING` of the values missing."""
    k = len(framework.indicators)
    quality = rng.normal(size=(units, 1))
    values = np.exp(0.5 * (quality * rng.uniform(0.3, 1.0, size=(1, k)) + rng.normal(size=(units, k))))
    values[rng.random(values.shape) < MISSING] = np.nan
    index = pd.Index([f"U{i:05d}" for i in range(units)], name="city_code")
    return pd.DataFrame(values, index=index, columns=framework.indicators)


def best_of(repeats: int, run) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def numpy_baseline(raw: pd.DataFrame, direction: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Min-max with direction and the index as one weighted mean (effective weights of the
    indicators): the irreducible arithmetic of scoring, one matrix product."""
    x = raw.to_numpy(dtype="float64") * direction
    low, high = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
    scores = (x - low) / (high - low) * 100.0
    present = ~np.isnan(scores)
    return np.where(present, scores, 0.0) @ weights / (present @ weights)


def bench_scoring(size: Size, repeats: int, rng: np.random.Generator) -> dict:
    framework = synthetic_framework(size.branching, rng)
    raw = synthetic_data(framework, size.units, rng)
    method = Method(name="bench", version="1")
    k, levels = len(framework.indicators), len(framework.levels)
    seconds, _ = best_of(repeats, lambda: compute_index(raw, framework, method))
    signs = framework.column("direction")[framework.indicators].to_numpy(dtype="float64")
    weights = framework.effective_weights()[framework.indicators].to_numpy(dtype="float64")
    baseline, _ = best_of(max(repeats, 3), lambda: numpy_baseline(raw, signs, weights))
    direction = framework.column("direction")
    t_norm, normalised = best_of(repeats, lambda: normalise(raw, direction, "minmax", (0, 100)))
    t_agg, aggregated = best_of(repeats, lambda: aggregate(normalised, framework, "arithmetic", 0.5))
    t_table, _ = best_of(repeats, lambda: score_table(raw, normalised, aggregated, framework))
    print(
        f"(a) scoring: compute_index, {size.units} units x {k} indicators x {levels} levels: "
        f"{seconds:.3f} s (best of {repeats}; target <= 3 s) | numpy baseline {baseline * 1000:.1f} ms "
        f"| ratio {seconds / baseline:.0f}x"
    )
    print(
        f"    of which (called alone) normalise {t_norm:.3f} s, aggregate {t_agg:.3f} s, "
        f"score_table {t_table:.3f} s"
    )
    return {"seconds": seconds, "baseline": baseline}


def naive_replication(raw, framework, method, choices, rng) -> pd.Series:
    """One replication the obvious way: perturb the framework and method, rerun compute_index."""
    table = framework.table.copy()
    noise = choices[0].noise
    table["weight"] = table["weight"] * rng.uniform(1 - noise, 1 + noise, size=len(table))
    picked = {c.step: c.alternatives[rng.integers(len(c.alternatives))] for c in choices[1:]}
    varied = method.model_copy(
        update={step: getattr(method, step).model_copy(update={"method": v}) for step, v in picked.items()}
    )
    stages = compute_index(raw, Framework.from_table(table), varied)
    return rank(stages.aggregated[["index"]])["index"]


def bench_uncertainty(size: Size, replications: int, rng: np.random.Generator) -> dict:
    framework = synthetic_framework(size.branching, rng)
    raw = synthetic_data(framework, size.units, rng)
    # min-max to [1, 100] as COINr's sensitivity example, so that geometric means are defined
    method = Method(name="bench", version="1", normalise={"method": "minmax", "range": (1.0, 100.0)})
    choices = [
        Choice("weights", "weight_noise", noise=0.25),
        Choice("normalisation", "alternatives", alternatives=("minmax", "percentile_share")),
        Choice("aggregation", "alternatives", alternatives=("arithmetic", "geometric")),
        Choice("imputation", "alternatives", alternatives=("none", "mean")),
    ]
    k = len(framework.indicators)
    start = time.perf_counter()
    result = uncertainty(raw, framework, method, choices, n=replications, seed=0)
    seconds = time.perf_counter() - start
    summary = result.summary
    probes = 5
    one, _ = best_of(probes, lambda: naive_replication(raw, framework, method, choices, rng))
    naive = one * replications
    print(
        f"(b) uncertainty: {replications} replications x {size.units} units x {k} indicators, "
        f"{len(choices)} choices: {seconds:.3f} s (target <= 20 s) | one naive replication "
        f"{one * 1000:.1f} ms x {replications} = {naive:.1f} s | ratio {seconds / naive:.3f}"
    )
    print(
        f"    median 90 % rank interval width {(summary['q95'] - summary['q05']).median():.1f}, "
        f"mean absolute rank shift {result.shift.mean():.2f}"
    )
    n_base = max(8, 2 ** int(np.log2(max(replications // (len(choices) + 2), 1))))
    start = time.perf_counter()
    indices = sensitivity(raw, framework, method, choices, n_base=n_base, seed=0)
    sobol_seconds = time.perf_counter() - start
    st = ", ".join(f"{name} {value:.2f}" for name, value in indices["ST"].items())
    print(
        f"    sensitivity (Saltelli, n_base {n_base}, {n_base * (len(choices) + 2)} replications): "
        f"{sobol_seconds:.3f} s; ST: {st}"
    )
    return {"seconds": seconds, "naive": naive, "sobol_seconds": sobol_seconds}


def main(quick: bool = False) -> dict:
    sizes = QUICK if quick else FULL
    rng = np.random.default_rng(20190605)
    print(
        f"bench_engine ({'quick' if quick else 'full'} size), numpy {np.__version__}, pandas {pd.__version__}"
    )
    return {
        "scoring": bench_scoring(sizes["scoring"], 1 if quick else 3, rng),
        "uncertainty": bench_uncertainty(sizes["uncertainty"], sizes["replications"], rng),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke test")
    main(quick=parser.parse_args().quick)
