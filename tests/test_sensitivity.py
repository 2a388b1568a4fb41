import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tasks.engine.framework import Framework
from tasks.engine.index import compute_index
from tasks.engine.method import Method
from tasks.engine.results import rank
from tasks.engine.sensitivity import Choice, sensitivity, sensitivity_indices, uncertainty
from tasks.warehouse.catalog import PROJECT_ROOT

FRAMEWORK = Framework.from_table(
    pd.DataFrame(
        [("index", "", 3, 1, 1), ("d1", "index", 2, 2, 1), ("d2", "index", 2, 1, 1),
         ("a", "d1", 1, 1, 1), ("b", "d1", 1, 2, -1), ("c", "d1", 1, 1, 1),
         ("d", "d2", 1, 1, 1), ("e", "d2", 1, 3, 1), ("f", "d2", 1, 1, -1)],
        columns=["code", "parent", "level", "weight", "direction"],
    )
)  # fmt: skip
# min-max to [1, 100] (as COINr's sensitivity example) so that geometric means are defined
METHOD = Method(name="t", version="1", normalise={"method": "minmax", "range": (1.0, 100.0)})
FIXED = [
    Choice("weights", "weight_noise", noise=0.0),
    Choice("normalisation", "alternatives", alternatives=("minmax",)),
    Choice("aggregation", "alternatives", alternatives=("arithmetic",)),
]
VARIED = [
    Choice("weights", "weight_noise", noise=0.3),
    Choice("normalisation", "alternatives", alternatives=("minmax", "percentile_share")),
    Choice("aggregation", "alternatives", alternatives=("arithmetic", "geometric")),
    Choice("imputation", "alternatives", alternatives=("none", "mean")),
]


def units(n: int = 40, missing: bool = False, seed: int = 7) -> pd.DataFrame:
    """n units x 6 indicators; unit U00 is the best on every indicator (after direction)."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=(n, 1))
    data = pd.DataFrame(
        quality * rng.uniform(0.5, 1.5, size=(1, 6)) + rng.normal(scale=1.0, size=(n, 6)),
        index=pd.Index([f"U{i:02d}" for i in range(n)], name="city_code"),
        columns=FRAMEWORK.indicators,
    )
    direction = FRAMEWORK.column("direction")[FRAMEWORK.indicators]
    data = data * direction  # higher is better everywhere, then back to raw orientation
    data.iloc[0] = data.max() + 1.0
    data = data * direction
    if missing:  # one gap in every third unit (5 of 6 present: every unit passes screening)
        for i in range(1, n, 3):
            data.iloc[i, i % 6] = np.nan
    return data


def nominal_ranks(raw: pd.DataFrame, method: Method) -> pd.Series:
    stages = compute_index(raw, FRAMEWORK, method)
    return rank(stages.aggregated[["index"]])["index"]


def test_without_uncertainty_every_replication_is_the_nominal_ranking():
    raw = units(missing=True)
    result = uncertainty(raw, FRAMEWORK, METHOD, FIXED, n=50, seed=1)
    nominal = nominal_ranks(raw, METHOD)
    summary = result.summary
    assert summary["nominal_rank"].tolist() == nominal.tolist()
    assert result.ranks.shape == (50, 40)
    assert (result.ranks == nominal.to_numpy()).all().all()
    assert (summary["median_rank"] == summary["nominal_rank"].astype(float)).all()
    assert (summary["q05"] == summary["q95"]).all() and (summary["mean_abs_shift"] == 0).all()
    assert (result.shift == 0).all()


@pytest.mark.parametrize("aggregation", ["arithmetic", "geometric", "harmonic"])
def test_the_nominal_ranking_is_compute_index_s(aggregation):
    raw = units(missing=True)
    method = METHOD.model_copy(
        update={"aggregate": METHOD.aggregate.model_copy(update={"method": aggregation, "min_share": 0.7})}
    )
    result = uncertainty(raw, FRAMEWORK, method, [Choice("weights", "weight_noise")], n=3)
    assert result.summary["nominal_rank"].equals(nominal_ranks(raw, method).rename("nominal_rank"))


def test_each_replication_is_compute_index_under_its_sampled_choices():
    raw = units(missing=True)
    choices = VARIED[1:]  # no weight noise: every replication is a method compute_index can run
    result = uncertainty(raw, FRAMEWORK, METHOD, choices, n=12, seed=3)
    seen = set()
    for replication, sample in result.samples.iterrows():
        picked = {c.step: c.alternatives[sample[c.name]] for c in choices}
        method = METHOD.model_copy(
            update={
                step: getattr(METHOD, step).model_copy(update={"method": value})
                for step, value in picked.items()
            }
        )
        expected = nominal_ranks(raw, method)
        assert result.ranks.loc[replication].tolist() == expected.tolist(), picked
        seen.add(tuple(picked.values()))
    assert len(seen) >= 4


def test_a_unit_best_on_every_indicator_stays_first_under_weight_noise():
    noise = [Choice("weights", "weight_noise", noise=0.5)]
    result = uncertainty(units(), FRAMEWORK, METHOD, noise, n=200, seed=0)
    best = result.summary.loc["U00"]
    assert best["nominal_rank"] == 1 and best["median_rank"] == 1 and best["q95"] == 1
    assert (result.summary["q95"] > result.summary["q05"]).sum() > 10  # the others do move
    assert result.shift.nunique() > 50  # every replication its own weights


def test_same_seed_same_result_other_seed_other_result():
    raw = units(missing=True)
    first = uncertainty(raw, FRAMEWORK, METHOD, VARIED, n=60, seed=11)
    again = uncertainty(raw, FRAMEWORK, METHOD, VARIED, n=60, seed=11)
    other = uncertainty(raw, FRAMEWORK, METHOD, VARIED, n=60, seed=12)
    assert first.ranks.equals(again.ranks) and first.samples.equals(again.samples)
    assert first.summary.equals(again.summary)
    assert not first.ranks.equals(other.ranks) and not first.samples.equals(other.samples)


def test_intervals_contain_the_median_and_samples_map_to_the_choices():
    result = uncertainty(units(missing=True), FRAMEWORK, METHOD, VARIED, n=100, seed=5)
    summary = result.summary
    assert (summary["q05"] <= summary["median_rank"]).all()
    assert (summary["median_rank"] <= summary["q95"]).all()
    assert (summary["q95"] > summary["q05"]).any()
    samples = result.samples
    assert list(samples.columns) == [c.name for c in VARIED]
    assert samples["weights"].between(0, 1, inclusive="left").all()
    assert set(samples["aggregation"]) == {0, 1} and set(samples["imputation"]) == {0, 1}
    assert result.ranks.dtypes.eq("Int64").all() and result.ranks.columns.equals(summary.index)


def test_only_the_aggregation_can_move_ranks_so_it_carries_all_the_variance():
    choices = [
        Choice("weights", "weight_noise", noise=0.0),
        Choice("aggregation", "alternatives", alternatives=("arithmetic", "geometric")),
        Choice("imputation", "alternatives", alternatives=("none", "mean")),  # no gaps: no effect
    ]
    result = uncertainty(units(), FRAMEWORK, METHOD, choices, n=64, seed=2, design="sobol")
    assert len(result.ranks) == 64 * (len(choices) + 2)
    assert result.shift.var() > 0
    indices = sensitivity_indices(result, choices)
    assert list(indices.columns) == ["S1", "S1_conf", "ST", "ST_conf"]
    assert indices["ST"].idxmax() == "aggregation"
    assert indices.loc["aggregation", "ST"] == pytest.approx(1.0, abs=0.2)
    assert indices.loc["aggregation", "S1"] == pytest.approx(1.0, abs=0.2)
    assert indices.loc[["weights", "imputation"], ["S1", "ST"]].abs().max().max() < 1e-9


def test_sensitivity_runs_the_saltelli_design_and_ranks_the_choices():
    indices = sensitivity(units(missing=True), FRAMEWORK, METHOD, VARIED, n_base=32, seed=4)
    assert list(indices.index) == [c.name for c in VARIED]
    assert np.isfinite(indices.to_numpy()).all()
    assert (indices["ST"] > -0.1).all()
    assert indices.equals(sensitivity(units(missing=True), FRAMEWORK, METHOD, VARIED, n_base=32, seed=4))


def test_nothing_uncertain_gives_zero_indices():
    indices = sensitivity(units(), FRAMEWORK, METHOD, FIXED, n_base=8)
    assert (indices == 0).all().all()


def test_random_design_is_not_analysed_as_a_saltelli_design():
    result = uncertainty(units(), FRAMEWORK, METHOD, FIXED, n=10)
    with pytest.raises(ValueError, match="Saltelli design"):
        sensitivity_indices(result, FIXED)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Choice("weights", "noise"), "kind must be one of"),
        (lambda: Choice("weights", "weight_noise", noise=1.5), r"noise must be in \[0, 1\)"),
        (lambda: Choice("normalisation", "alternatives"), "at least one alternative"),
        (lambda: Choice("colour", "alternatives", alternatives=("red",)), "which step it replaces"),
    ],
)
def test_malformed_choices_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unusable_alternatives_fail_before_the_replications_with_the_reason():
    twice = [FIXED[1], Choice("normalise", "alternatives", alternatives=("zscore",))]
    with pytest.raises(ValueError, match="repeat the steps"):
        uncertainty(units(), FRAMEWORK, METHOD, twice, n=5)
    unknown = [Choice("aggregation", "alternatives", alternatives=("median",))]
    with pytest.raises(ValueError, match="unknown aggregation 'median'"):
        uncertainty(units(), FRAMEWORK, METHOD, unknown, n=5)
    negative = [
        Choice("normalisation", "alternatives", alternatives=("zscore",)),
        Choice("aggregation", "alternatives", alternatives=("geometric",)),
    ]
    with pytest.raises(ValueError, match="geometric mean of node 'd1'.*positive values"):
        uncertainty(units(), FRAMEWORK, METHOD, negative, n=5)


def test_the_benchmark_runs_at_quick_size():
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "bench_engine.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "(a) scoring" in done.stdout and "(b) uncertainty" in done.stdout


PAIR = Framework.from_table(
    pd.DataFrame(
        [("idx", "", 2, 1.0, 1), ("p", "idx", 1, 1.0, 1), ("q", "idx", 1, 1.0, 1)],
        columns=["code", "parent", "level", "weight", "direction"],
    )
)


def test_a_parameter_choice_varies_any_method_key():
    # A has p only: with min_share 0.5 its index is p = 80 (B 60, C (50 + 40) / 2 = 45): ranks
    # 1, 2, 3; with min_share 1.0 A holds half the weight and has no index: B 1, C 2.
    raw = pd.DataFrame({"p": [80.0, 60.0, 50.0], "q": [np.nan, 60.0, 40.0]}, index=["A", "B", "C"])
    method = Method(name="m", version="1", normalise={"method": "none"}, screen={"min_availability": 0.5})
    trim = Choice("trim", "parameter", alternatives=(0.5, 1.0), path="aggregate.min_share")
    result = uncertainty(raw, PAIR, method, [trim], n=40, seed=3)
    expected = {0: [1, 2, 3], 1: [None, 1, 2]}
    for replication, pick in result.samples["trim"].items():
        got = [None if pd.isna(r) else int(r) for r in result.ranks.loc[replication]]
        assert got == expected[pick]
    assert set(result.samples["trim"]) == {0, 1}


def test_a_parameter_choice_of_the_method_file_is_checked():
    from tasks.engine.method import Method as Schema

    good = {"name": "t", "kind": "parameter", "path": "aggregate.min_share", "alternatives": [0.5, 0.75]}
    chosen = Schema(name="m", version="1", uncertainty={"choices": [good]})
    assert chosen.uncertainty.choices[0].choice().alternatives == (0.5, 0.75)
    for bad, message in (({**good, "alternatives": [1.5]}, "aggregate.min_share = 1.5"),
                         ({**good, "path": "aggregate.trim"}, "not a key of the method file")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            Schema(name="m", version="1", uncertainty={"choices": [bad]})
