import numpy as np
import pandas as pd
import pytest

from tasks.engine.aggregate import AggregationPlan, aggregate, framework_means
from tasks.engine.choices import Choice
from tasks.engine.framework import Framework
from tasks.engine.index import compute_index
from tasks.engine.method import Method
from tasks.engine.montecarlo import MonteCarlo

# Four levels; the framework's `aggregate` column and the method's by_node pick a geometric, a
# harmonic and two power means (p = 0.5), the rest arithmetic; one indicator sits under the root.
FRAMEWORK = Framework.from_table(
    pd.DataFrame(
        [("index", "", 4, 1, 1, ""), ("p1", "index", 3, 2, 1, "power"), ("p2", "index", 3, 1, 1, ""),
         ("g", "index", 1, 1, 1, ""),
         ("d1", "p1", 2, 2, 1, "geometric"), ("d2", "p1", 2, 1, 1, "harmonic"), ("d3", "p2", 2, 3, 1, ""),
         ("a", "d1", 1, 1, 1, ""), ("b", "d1", 1, 2, -1, ""), ("c", "d1", 1, 1, 1, ""),
         ("d", "d2", 1, 1, 1, ""), ("e", "d2", 1, 3, 1, ""),
         ("f", "d3", 1, 1, -1, ""), ("h", "d3", 1, 2, 1, ""), ("i", "p2", 1, 1, 1, "")],
        columns=["code", "parent", "level", "weight", "direction", "aggregate"],
    )
)  # fmt: skip
METHOD = Method(
    name="t",
    version="1",
    normalise={"method": "minmax", "range": (1.0, 100.0)},
    aggregate={"method": "arithmetic", "min_share": 0.6, "power": 0.5, "by_node": {"p2": "power"}},
)


def raw(n: int = 30, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        rng.lognormal(size=(n, len(FRAMEWORK.indicators))),
        index=pd.Index([f"U{i:02d}" for i in range(n)], name="city_code"),
        columns=FRAMEWORK.indicators,
    )
    data = data.mask(rng.random(data.shape) < 0.12)  # missing children, some nodes below min_share
    return data


def test_aggregate_and_the_monte_carlo_engine_give_the_identical_index():
    data = raw()
    stages = compute_index(data, FRAMEWORK, METHOD)
    assert stages.aggregated.isna().any().any() and stages.aggregated["index"].notna().any()
    direct = aggregate(
        stages.normalised,
        FRAMEWORK,
        "arithmetic",
        0.6,
        by_node=framework_means(FRAMEWORK) | {"p2": "power"},
        weights=stages.weights,
        power=0.5,
    )
    assert np.array_equal(direct.to_numpy(), stages.aggregated.to_numpy(), equal_nan=True)

    engine = MonteCarlo(data, FRAMEWORK, METHOD, {})
    index = stages.aggregated["index"].to_numpy()
    assert np.array_equal(engine.nominal(), index, equal_nan=True)
    nominal_choices = [
        Choice("weights", "weight_noise", noise=0.0),
        Choice("aggregation", "alternatives", alternatives=("arithmetic",)),
    ]
    samples = pd.DataFrame({"weights": np.linspace(0, 0.99, 5), "aggregation": np.zeros(5, dtype="int64")})
    replicated = engine.replicate(nominal_choices, samples, np.random.default_rng(0))
    assert all(np.array_equal(row, index, equal_nan=True) for row in replicated)


def test_the_plan_holds_each_node_s_mean_and_shift():
    plan = AggregationPlan.build(
        FRAMEWORK, "arithmetic", by_node=framework_means(FRAMEWORK), power=0.5, offset=1.0
    )
    nodes = {node.code: node for node in plan.nodes}
    assert plan.aggregates == ["d1", "d2", "d3", "p1", "p2", "index"]
    assert plan.columns == [*FRAMEWORK.indicators, *plan.aggregates]
    assert {code: node.mean_name for code, node in nodes.items()} == {
        "d1": "geometric", "d2": "harmonic", "d3": "arithmetic", "p1": "power", "p2": "arithmetic",
        "index": "arithmetic",
    }  # fmt: skip
    assert nodes["d1"].shift == 1.0 and nodes["d3"].shift is None
    assert nodes["d1"].strict is True and nodes["p1"].strict is False and nodes["d3"].strict is None


def test_one_domain_check_names_node_unit_and_child_for_both_callers():
    data = raw()
    plain = Framework.from_table(FRAMEWORK.table.drop(columns="aggregate"))
    zscore = Method(name="t", version="1", normalise={"method": "zscore"}, aggregate={"method": "geometric"})
    message = (
        r"geometric mean of node 'd1': unit 'U\d+' has child '[abc]' = -[\d.e-]+, the mean needs positive"
    )
    with pytest.raises(ValueError, match=message):
        compute_index(data, plain, zscore)
    engine = MonteCarlo(data, plain, METHOD.model_copy(update={"aggregate": zscore.aggregate}), {})
    with pytest.raises(ValueError, match=message):  # the variant aggregates arithmetically: the plan refuses
        engine.replicate(
            [Choice("normalisation", "alternatives", alternatives=("zscore",))],
            pd.DataFrame({"normalisation": [0]}),
            np.random.default_rng(0),
        )
