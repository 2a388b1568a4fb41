import pandas as pd
import pytest

from tasks.engine.framework import Framework, FrameworkError
from tasks.quality.load import FRAMEWORK, read_csv
from tasks.warehouse.catalog import Catalog


def table(rows):
    return pd.DataFrame(rows, columns=["code", "parent", "level", "weight", "direction", "origin"])


GOOD = [
    ("index", "", 3, 1, 1, ""),
    ("d1", "index", 2, 3, 1, ""),
    ("d2", "index", 2, 1, 1, ""),
    ("a", "d1", 1, 1, 1, "indicators"),
    ("b", "d1", 1, 1, -1, "trade"),
    ("c", "d2", 1, 1, 1, "indicators"),
]


def test_shipped_framework_weights_economic_and_trade_cooperation_at_44_1_percent():
    framework = Framework.from_table(read_csv(Catalog().framework, FRAMEWORK))
    relative = framework.relative_weights()
    assert relative["economic_trade"] == pytest.approx(0.441)
    assert len(framework.children(framework.root)) == 5
    weights = framework.effective_weights()
    assert weights[framework.indicators].sum() == pytest.approx(1.0)
    assert weights["economic_trade"] == pytest.approx(0.441) and weights[framework.root] == 1.0
    assert 18 <= len(framework.indicators) <= 25


def test_effective_weights_multiply_down_the_tree():
    weights = Framework.from_table(table(GOOD)).effective_weights()
    assert weights.to_dict() == pytest.approx(
        {"index": 1, "d1": 0.75, "d2": 0.25, "a": 0.375, "b": 0.375, "c": 0.25}
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: pd.concat([t, t.tail(1)]), r"duplicate codes \['c'\]"),
        (lambda t: t.assign(parent=t["parent"].replace("d2", "dx")), r"parents that are not codes: \['dx'\]"),
        (lambda t: t.assign(parent=t["parent"].replace("index", "")), "exactly one root"),
        (
            lambda t: t.assign(weight=t["weight"].where(t["code"] != "a", 0)),
            r"weights must be positive: \['a'\]",
        ),
        (lambda t: t[t["code"] != "c"], r"aggregates without children: \['d2'\]"),
        (lambda t: t.assign(direction=t["direction"].replace(-1, 2)), r"direction must be 1 or -1: \['b'\]"),
    ],
)
def test_malformed_frameworks_are_refused_with_the_codes_named(change, message):
    with pytest.raises(FrameworkError, match=message):
        Framework.from_table(change(table(GOOD)))
