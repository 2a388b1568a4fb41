"""COINr 1.1.14's published formulas, worked by hand, against the engine (issue #15).

Each expected number below comes from the R source of COINr (`R/normalise.R`, `R/impute.R`,
`R/aggregate.R`), evaluated by hand on a few values: `n_rank` / `n_prank` (R's
`rank(ties.method = "min")`), `n_dist2targ` (`cap_max = FALSE`), `n_goalposts`
(`trunc2posts`), `i_mean_grp` (`skip_f_na = TRUE`), `a_gmean` (stops on x <= 0) and
`Aggregate(dat_thresh)`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.engine.aggregate import aggregate, aggregate_with_report
from tasks.engine.framework import Framework
from tasks.engine.impute import impute, impute_gaps
from tasks.engine.index import compute_index
from tasks.engine.method import Method
from tasks.engine.normalise import normalise
from tasks.engine.units import FormatError, read_framework
from tests.conftest import coopindex

TIED = [1.0, 2.0, 2.0, 3.0, 5.0, 8.0]


def one(values, method, direction=1, scale=(0, 100), options=None, **settings):
    """One indicator `x` normalised; `options` are `normalise`'s keywords, `settings` its table."""
    index = pd.Index([f"U{i}" for i in range(len(values))], name="unit")
    data = pd.DataFrame({"x": values}, index=index, dtype="float64")
    table = pd.DataFrame(settings, index=["x"]) if settings else None
    out = normalise(data, pd.Series({"x": direction}), method, scale, settings=table, **(options or {}))
    return out["x"].tolist()


def method(**sections) -> Method:
    return Method.model_validate({"name": "t", "version": "1", **sections})


# ---------------------------------------------------------------------------------------------
# 1-2. ranks, ties and percentiles


@pytest.mark.parametrize(
    ("ties", "expected"),
    [
        ("min", [1, 2, 2, 4, 5, 6]),  # COINr's n_rank default ("sport" ranking)
        ("average", [1, 2.5, 2.5, 4, 5, 6]),
        ("max", [1, 3, 3, 4, 5, 6]),
        ("dense", [1, 2, 2, 3, 4, 5]),
    ],
)
def test_rank_ties(ties, expected):
    assert one(TIED, "rank", options={"ties": ties}) == expected


def test_the_default_ties_are_coinrs_min_in_the_engine_and_the_method_file():
    assert one(TIED, "rank") == [1, 2, 2, 4, 5, 6]
    assert method().normalise.ties == "min"


@pytest.mark.parametrize(
    ("ties", "expected"),
    [
        # n_prank: (rank - 1) / (n - 1), here x 100 with n = 6: ranks 1 2 2 4 5 6 -> 0 1 1 3 4 5 / 5
        ("min", [0, 20, 20, 60, 80, 100]),
        ("average", [0, 30, 30, 60, 80, 100]),  # (0, 1.5, 1.5, 3, 4, 5) / 5
        ("dense", [0, 25, 25, 50, 75, 100]),  # 5 distinct values: (0, 1, 1, 2, 3, 4) / 4
    ],
)
def test_percentile_is_coinrs_n_prank_times_100(ties, expected):
    assert one(TIED, "percentile", options={"ties": ties}) == pytest.approx(expected)


def test_percentile_of_lower_is_better_and_of_a_single_unit():
    # direction -1 ranks the negated values: 8 is the worst (rank 1), 1 the best
    assert one(TIED, "percentile", -1) == pytest.approx([100, 60, 60, 40, 20, 0])
    assert math.isnan(one([3.0], "percentile")[0])  # (1 - 1) / (1 - 1) in R is NaN


def test_percentile_share_keeps_the_rank_over_count_definition():
    # rank / n * 100 with min ties: 1 2 2 4 5 6 over 6
    assert one(TIED, "percentile_share") == pytest.approx([100 / 6, 100 / 3, 100 / 3, 200 / 3, 250 / 3, 100])
    averaged = one(TIED, "percentile_share", options={"ties": "average"})
    assert averaged == pytest.approx([100 / 6, 2.5 / 6 * 100, 2.5 / 6 * 100, 200 / 3, 250 / 3, 100])


# ---------------------------------------------------------------------------------------------
# 3. distance to target


def test_dist_target_is_uncapped_by_default_as_coinrs_cap_max_false():
    # (x - min) / (targ - min) = (x - 0) / 10: 11 is 10 % past the target
    assert one([0, 5, 10, 11], "dist_target", target=10) == pytest.approx([0, 50, 100, 110])
    assert one([0, 5, 10, 11], "dist_target", scale=(0, 1), target=10) == pytest.approx([0, 0.5, 1, 1.1])
    assert method().normalise.target_cap is False


def test_dist_target_caps_when_asked_by_method_or_by_indicator():
    capped = one([0, 5, 10, 11], "dist_target", options={"target_cap": True}, target=10)
    assert capped == pytest.approx([0, 50, 100, 100])
    assert one([0, 5, 10, 11], "dist_target", target=10, target_cap=True) == pytest.approx([0, 50, 100, 100])


def test_dist_target_of_a_lower_is_better_indicator():
    # direction -1: (max - x) / (max - targ) = (10 - x) / (10 - 3)
    out = one([2, 4, 6, 10], "dist_target", -1, target=3)
    assert out == pytest.approx([800 / 7, 600 / 7, 400 / 7, 0])


# ---------------------------------------------------------------------------------------------
# 4. goalposts


@pytest.mark.parametrize(
    ("cap", "expected"),
    [
        ("both", [0, 0, 50, 100, 100]),  # trunc2posts = TRUE, the default
        ("none", [-50, 0, 50, 100, 150]),  # trunc2posts = FALSE: (x - 0) / (10 - 0)
        ("low", [0, 0, 50, 100, 150]),
        ("high", [-50, 0, 50, 100, 100]),
    ],
)
def test_goalpost_caps(cap, expected):
    x = [-5, 0, 5, 10, 15]
    assert one(x, "goalposts", goalpost_low=0, goalpost_high=10, goalpost_cap=cap) == pytest.approx(expected)
    by_method = one(x, "goalposts", options={"goalpost_cap": cap}, goalpost_low=0, goalpost_high=10)
    assert by_method == pytest.approx(expected)


def test_goalpost_caps_of_a_lower_is_better_indicator_are_in_score_terms():
    # COINr direction -1: (x - GP_high) / (GP_low - GP_high) = (x - 10) / -10
    x = [-5, 0, 5, 10, 15]
    assert one(x, "goalposts", -1, goalpost_low=0, goalpost_high=10, goalpost_cap="none") == pytest.approx(
        [150, 100, 50, 0, -50]
    )
    assert one(x, "goalposts", -1, goalpost_low=0, goalpost_high=10, goalpost_cap="low") == pytest.approx(
        [150, 100, 50, 0, 0]
    )
    assert method().normalise.goalpost_cap == "both"


# ---------------------------------------------------------------------------------------------
# 5. goalposts that are not numbers


def test_a_goalpost_formula_names_the_indicator_and_the_column():
    with pytest.raises(ValueError, match=r"indicator 'x': goalpost_high 'log10\(901\)' is not a number"):
        one([1, 2, 3], "goalposts", goalpost_low="0", goalpost_high="log10(901)")


def test_the_framework_file_names_the_line_of_a_goalpost_formula(tmp_path):
    path = tmp_path / "framework.csv"
    path.write_text(
        "code,parent,level,weight,direction,normalise,goalpost_low,goalpost_high\n"
        "index,,2,1,1,,,\n"
        "gdp,index,1,1,1,goalposts,100,log10(901)\n"
    )
    with pytest.raises(
        FormatError, match=r"framework\.csv, line 3: indicator 'gdp': goalpost_high 'log10\(901\)'"
    ):
        read_framework(path)


def coinr_imeta(tmp_path: Path, columns: str, a: str, b: str) -> Path:
    """A COINr iMeta of an index over `a` and `b` (lower is better), with extra columns."""
    path = tmp_path / "iMeta.csv"
    path.write_text(
        f"iCode,Parent,Level,Weight,Direction,Type,{columns}\n"
        f"index,,2,1,1,Aggregate,{',' * columns.count(',')}\n"
        f"a,index,1,1,1,Indicator,{a}\n"
        f"b,index,1,1,-1,Indicator,{b}\n"
    )
    return path


def test_coinrs_imeta_goalposts_scale_and_truncation_are_read(tmp_path):
    """COINr's `Normalise(f_n = "n_goalposts", f_n_para = "use_iMeta")`: y = (x - l) / (u - l),
    clipped to [0, 1] if `goalpost_trunc2posts`, times `goalpost_scale`; direction -1 negates x
    and the goalposts (u, l) = (-10, 0), so y = (10 - x) / 10. a: 5 -> 0.5, 15 -> 1 (clipped);
    b, untruncated: 12 -> -0.2, 2 -> 0.8; the index their mean: A 0.15, B 0.9."""
    path = coinr_imeta(tmp_path, "goalpost_lower,goalpost_upper,goalpost_scale,goalpost_trunc2posts",
                       "0,10,1,TRUE", "0,10,1,FALSE")  # fmt: skip
    framework, settings = read_framework(path)
    assert settings.loc["a", "goalpost_cap"] == "both" and settings.loc["b", "goalpost_cap"] == "none"
    raw = pd.DataFrame({"a": [5.0, 15.0], "b": [12.0, 2.0]}, index=pd.Index(["A", "B"], name="unit"))
    stages = compute_index(raw, framework, method(normalise={"method": "goalposts"}), settings=settings)
    assert stages.normalised.stack().to_dict() == pytest.approx(
        {("A", "a"): 0.5, ("A", "b"): -0.2, ("B", "a"): 1.0, ("B", "b"): 0.8}
    )
    assert stages.aggregated["index"].to_dict() == pytest.approx({"A": 0.15, "B": 0.9})


def test_coinrs_imeta_target_cap_is_read(tmp_path):
    """`n_dist2targ` with `dist2targ_cap_max`: (x - min) / (target - min), 1.1 past the target
    uncapped; capped at 1 (x 100 on our range) when TRUE."""
    path = coinr_imeta(tmp_path, "Target,dist2targ_cap_max", "10,TRUE", "10,FALSE")
    framework, settings = read_framework(path)
    raw = pd.DataFrame({"a": [0.0, 11.0], "b": [0.0, 11.0]}, index=pd.Index(["A", "B"], name="unit"))
    stages = compute_index(raw, framework, method(normalise={"method": "dist_target"}), settings=settings)
    assert stages.normalised.loc["B", "a"] == pytest.approx(100.0)
    assert stages.normalised.loc["A", "b"] == pytest.approx(100 * (0 - -11) / (-10 - -11))


def test_a_truncation_that_is_not_true_or_false_names_its_line(tmp_path):
    columns = "goalpost_lower,goalpost_upper,goalpost_trunc2posts"
    path = coinr_imeta(tmp_path, columns, "0,10,TRUE", "0,10,maybe")
    with pytest.raises(FormatError, match=r"iMeta\.csv, line 4: indicator 'b': goalpost_trunc2posts 'maybe'"):
        read_framework(path)


# ---------------------------------------------------------------------------------------------
# 6. group imputation without a group label


def test_a_unit_without_a_group_keeps_its_gap_and_the_others_are_filled():
    # i_mean_grp(x, f, skip_f_na = TRUE): the mean of x within each group of f; f = NA left alone
    index = pd.Index(["A", "B", "C", "D", "E", "F"], name="unit")
    data = pd.DataFrame({"x": [1, np.nan, 3, np.nan, 5, np.nan]}, index=index)
    groups = pd.Series(["g1", "g1", "g1", None, "g2", "g2"], index=index)
    out = impute(data, "group_mean", groups)
    assert (
        out["x"].tolist()[:3] == [1, 2, 3]
        and math.isnan(out.at["D", "x"])
        and out["x"].tolist()[4:] == [5, 5]
    )
    gaps = impute_gaps(out, "group_mean", groups)
    assert gaps.to_dict("records") == [{"unit": "D", "indicator": "x", "reason": "no group"}]


def test_compute_index_reports_the_unit_left_unimputed():
    framework = Framework.from_table(
        pd.DataFrame(
            [("index", "", 2, 1.0, 1), ("x", "index", 1, 1.0, 1), ("y", "index", 1, 1.0, 1)],
            columns=["code", "parent", "level", "weight", "direction"],
        )
    )
    index = pd.Index(["A", "B", "C", "D"], name="unit")
    raw = pd.DataFrame({"x": [1, np.nan, 3, np.nan], "y": [1.0, 2, 3, 4]}, index=index)
    groups = pd.DataFrame({"region": ["r", "r", "r", ""]}, index=index)
    chosen = method(impute={"method": "group_mean", "group": "region"}, screen={"min_availability": 0})
    stages = compute_index(raw, framework, chosen, groups=groups)
    assert stages.imputed.at["B", "x"] == 2 and math.isnan(stages.imputed.at["D", "x"])
    assert stages.diagnostics["imputation"][["unit", "reason"]].values.tolist() == [["D", "no group"]]


# ---------------------------------------------------------------------------------------------
# 7. non-positive children of geometric and harmonic means


def three_levels() -> Framework:
    rows = [
        ("index", "", 3, 1.0, 1),
        ("d1", "index", 2, 1.0, 1),
        ("d2", "index", 2, 1.0, 1),
        ("a", "d1", 1, 1.0, 1),
        ("b", "d1", 1, 1.0, 1),
        ("c", "d2", 1, 1.0, 1),
    ]
    return Framework.from_table(
        pd.DataFrame(rows, columns=["code", "parent", "level", "weight", "direction"])
    )


SCORES = pd.DataFrame(
    {"a": [4.0, 0.0, 1.0], "b": [9.0, 9.0, 4.0], "c": [10.0, 20.0, 30.0]},
    index=pd.Index(["U1", "U2", "U3"], name="unit"),
)


def test_a_zero_child_stops_the_geometric_mean_by_default_as_coinr():
    with pytest.raises(ValueError, match=r"geometric mean of node 'd1': unit 'U2' has child 'a' = 0"):
        aggregate(SCORES, three_levels(), by_level={2: "geometric"})


@pytest.mark.parametrize(
    ("mean", "d1"),
    [("geometric", [6.0, 2.0]), ("harmonic", [72 / 13, 1.6])],  # sqrt(4 * 9); 2 / (1/4 + 1/9)
)
def test_nonpositive_missing_leaves_only_that_units_node_missing(mean, d1):
    out, report = aggregate_with_report(
        SCORES, three_levels(), by_level={2: mean}, min_share=0.5, nonpositive="missing"
    )
    assert out.loc[["U1", "U3"], "d1"].tolist() == pytest.approx(d1)
    assert math.isnan(out.at["U2", "d1"])
    # the index of U2 is its other dimension alone: half the weight is present, not below 0.5
    assert out.at["U2", "index"] == pytest.approx(20.0)  # d2 = the mean of c alone
    assert out.loc[["U1", "U3"], "index"].tolist() == pytest.approx([(d1[0] + 10) / 2, (d1[1] + 30) / 2])
    assert report.to_dict("records") == [
        {"unit": "U2", "node": "d1", "reason": "nonpositive", "detail": f"{mean} mean of a = 0"}
    ]


def test_the_method_file_chooses_per_unit_handling():
    assert method().aggregate.nonpositive == "error"
    assert method(aggregate={"nonpositive": "missing"}).aggregate.nonpositive == "missing"


# ---------------------------------------------------------------------------------------------
# 8. two-level frameworks (indicators directly under the index)


def test_a_two_level_framework_is_scored_by_the_command(tmp_path):
    framework = tmp_path / "framework.csv"
    framework.write_text("code,parent,level,weight,direction\nindex,,2,1,1\nx,index,1,1,1\ny,index,1,3,1\n")
    data = tmp_path / "units.csv"
    data.write_text("unit,x,y\nA,0,10\nB,10,0\nC,5,5\n")
    chosen = tmp_path / "method.yaml"
    chosen.write_text("name: two\nversion: '1'\n")
    out = tmp_path / "out"
    result = coopindex("score", "--framework", str(framework), "--data", str(data), "--method", str(chosen),
                       "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    results = pd.read_csv(out / "results.csv").set_index("unit")
    # min-max 0-100, then (w_x x + w_y y) / 4 with weights 1 and 3
    assert results["index"].to_dict() == pytest.approx({"A": 75.0, "B": 25.0, "C": 50.0})
    assert results["rank"].to_dict() == {"A": 1, "C": 2, "B": 3}
    assert "index: top 10 of 3 units" in result.stdout
    audit = ("correlations", "pca", "leave_one_out", "leave_one_out_units")  # only with --audit
    assert [name for name in audit if (out / f"{name}.parquet").exists()] == []


# ---------------------------------------------------------------------------------------------
# 9. min_share


def test_min_share_is_a_weight_share_and_its_removals_are_reported():
    rows = [("index", "", 2, 1.0, 1), ("a", "index", 1, 1.0, 1), ("b", "index", 1, 3.0, 1)]
    framework = Framework.from_table(
        pd.DataFrame(rows, columns=["code", "parent", "level", "weight", "direction"])
    )
    scores = pd.DataFrame(
        {"a": [40.0, np.nan, 20.0], "b": [np.nan, 80.0, 60.0]}, index=pd.Index(["P", "Q", "R"], name="unit")
    )
    # P has a only: weight share 1/4 < 0.5 (COINr's dat_thresh counts 1/2 and would keep it)
    out, report = aggregate_with_report(scores, framework, min_share=0.5)
    assert math.isnan(out.at["P", "index"]) and out.at["Q", "index"] == 80.0
    assert out.at["R", "index"] == pytest.approx((20 + 3 * 60) / 4)
    assert report[["unit", "node", "reason"]].values.tolist() == [["P", "index", "min_share"]]
    assert aggregate_with_report(scores, framework, min_share=0.25)[1].empty


def test_compute_index_returns_the_aggregation_report():
    stages = compute_index(
        SCORES.assign(a=[4.0, np.nan, 1.0]), three_levels(), method(aggregate={"min_share": 0.6})
    )
    # U2 has half of d1's weight, below 0.6; then half of the index's (d2 only), below 0.6 too
    report = stages.diagnostics["aggregation"]
    assert report[["unit", "node", "reason"]].values.tolist() == [
        ["U2", "d1", "min_share"],
        ["U2", "index", "min_share"],
    ]
    assert stages.aggregated["index"].notna().tolist() == [True, False, True]


def test_write_index_writes_the_diagnostics(tmp_path: Path):
    from tasks.engine.export import write_index

    stages = compute_index(
        SCORES.assign(a=[4.0, np.nan, 1.0]), three_levels(), method(aggregate={"min_share": 0.6})
    )
    write_index(stages, three_levels(), tmp_path)
    assert pd.read_parquet(tmp_path / "aggregation.parquet")["node"].tolist() == ["d1", "index"]
    assert (tmp_path / "imputation.parquet").exists()
