import pandas as pd

from tasks.engine.compare import changes, compare_scores
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


def scored(rows: list[tuple[str, str, int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["unit", "node", "level", "score", "rank"]).astype({"rank": "Int64"})


def test_compare_scores_is_a_minus_b_per_unit_and_node():
    a = scored([("X", "idx", 2, 60.0, 1), ("Y", "idx", 2, 50.0, 2),
                ("X", "i", 1, 10.0, 2), ("Y", "i", 1, 30.0, 1)])  # fmt: skip
    b = scored([("X", "idx", 2, 40.0, 3), ("Y", "idx", 2, 55.0, 1), ("Z", "idx", 2, 45.0, 2),
                ("X", "i", 1, 10.0, 1), ("Y", "i", 1, 5.0, 2)])  # fmt: skip
    table = compare_scores(a, b)
    index = table[table["node"] == "idx"].set_index("unit")
    assert list(index.index) == ["X", "Y", "Z"]  # largest |rank change| first, Z (B only) last
    assert index.loc["X", "score_diff"] == 20.0 and index.loc["X", "rank_diff"] == -2
    assert index.loc["Y", "score_diff"] == -5.0 and index.loc["Y", "rank_diff"] == 1
    assert pd.isna(index.loc["Z", "score_a"]) and pd.isna(index.loc["Z", "rank_diff"])
    indicator = table[table["node"] == "i"].set_index("unit")
    assert indicator.loc["Y", "score_diff"] == 25.0 and indicator.loc["Y", "abs_rank_diff"] == 1
    assert list(table["node"].drop_duplicates()) == ["idx", "i"]


def test_compare_scores_keeps_the_period_of_panel_scores():
    a = scored([("X", "idx", 2, 60.0, 1), ("X", "idx", 2, 70.0, 1)]).assign(Time=[1, 2])
    b = scored([("X", "idx", 2, 50.0, 1), ("X", "idx", 2, 75.0, 1)]).assign(Time=[1, 2])
    order = ["unit", "Time", "node", "level", "score", "rank"]
    table = compare_scores(a[order], b[order])
    assert list(table.columns[:3]) == ["unit", "Time", "node"]
    assert table.set_index("Time")["score_diff"].to_dict() == {1: 10.0, 2: -5.0}


def test_the_compare_command_prints_and_writes_the_differences(tmp_path):
    import subprocess
    import sys

    from tasks.warehouse.catalog import PROJECT_ROOT

    folders = []
    for name, rows in (("a", [("X", "idx", 2, 60.0, 1), ("Y", "idx", 2, 50.0, 2)]),
                       ("b", [("X", "idx", 2, 40.0, 2), ("Y", "idx", 2, 55.0, 1)])):  # fmt: skip
        folder = tmp_path / name
        folder.mkdir()
        scored(rows).to_parquet(folder / "scores.parquet")
        folders.append(str(folder))
    out = tmp_path / "diff.csv"
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "compare", *folders, "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 units in both, 2 with another idx rank, mean |rank change| 1.000" in done.stdout
    written = pd.read_csv(out).set_index("unit")
    assert written.loc["X", "rank_diff"] == -1 and written.loc["Y", "score_diff"] == -5.0
