import pandas as pd

from tasks.engine.compare import changes
from tasks.engine.framework import Framework

FRAMEWORK = Framework.from_table(
    pd.DataFrame(
        [("index", "", 3, 1, 1), ("d1", "index", 2, 1, 1), ("d2", "index", 2, 1, 1),
         ("a", "d1", 1, 1, 1), ("b", "d2", 1, 1, 1)],
        columns=["code", "parent", "level", "weight", "direction"],
    )
)  # fmt: skip


def table(scores: dict[str, dict[str, float]]) -> pd.DataFrame:
    rows = [(u, n, s) for u, by_node in scores.items() for n, s in by_node.items()]
    out = pd.DataFrame(rows, columns=["city_code", "node", "score"])
    out["rank"] = out.groupby("node")["score"].rank(ascending=False, method="min").astype("Int64")
    out["weight_in_index"] = out["node"].map({"index": 1.0, "d1": 0.5, "d2": 0.5, "a": 0.5, "b": 0.5})
    return out


def test_rank_moves_and_the_dimension_that_drove_them():
    before = table({"P": {"index": 60, "d1": 80, "d2": 40}, "Q": {"index": 50, "d1": 50, "d2": 50},
                    "R": {"index": 10, "d1": 10, "d2": 10}})  # fmt: skip
    after = table({"P": {"index": 45, "d1": 50, "d2": 40}, "Q": {"index": 50, "d1": 50, "d2": 50},
                   "R": {"index": 10, "d1": 10, "d2": 10}})  # fmt: skip
    moved = changes(before, after, FRAMEWORK).set_index("city_code")
    assert list(moved.index) == ["Q", "P"]  # R did not move
    assert (
        moved.loc["P", "rank_before"] == 1
        and moved.loc["P", "rank_after"] == 2
        and moved.loc["P", "move"] == -1
    )
    assert moved.loc["P", "driver"] == "d1" and moved.loc["P", "driver_effect"] == -15
    assert moved.loc["Q", "move"] == 1
