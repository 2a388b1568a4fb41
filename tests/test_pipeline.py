"""The declared edition pipeline: its shape, its read-only slice, and (through the overhead
benchmark) in-memory runs against the Prefect flow's outputs."""

from __future__ import annotations

import pytest

from tasks.edition.pipeline import CHECKS, EDITION, PARAMETERS, Pipeline, Step
from tests.conftest import overhead_benchmark


def test_every_input_is_made_before_it_is_used():
    EDITION.check()
    produced = set(PARAMETERS) | {s.output for s in EDITION.steps if s.output}
    assert all(i in produced for s in EDITION.steps for i in s.inputs)


def test_a_step_that_reads_what_nothing_makes_is_refused():
    broken = Pipeline((*EDITION.steps[:3], Step("score-early", len, ("stages",), "oops")))
    with pytest.raises(ValueError, match="score-early.*needs \\['stages'\\]"):
        broken.check()


def test_a_step_whose_function_cannot_take_its_inputs_is_refused():
    with pytest.raises(ValueError, match="cannot take"):
        Pipeline((Step("two", len, ("catalog", "edition")),)).check()


def test_a_slice_without_steps_keeps_the_others_in_order_and_names_only_real_steps():
    kept = EDITION.without("write-workbook", "write-report")
    assert [s.name for s in kept.steps] == [
        s.name for s in EDITION.steps if s.name not in ("write-workbook", "write-report")
    ]
    kept.check()
    with pytest.raises(KeyError, match="no step 'write-reports'"):
        EDITION.without("write-reports")


def test_validate_runs_the_checks_and_writes_nothing():
    assert not any(s.writes for s in CHECKS.steps)
    assert CHECKS.steps[-1].name == "check-derived"
    names = [s.name for s in EDITION.steps]
    assert [s.name for s in CHECKS.steps] == [n for n in names[: names.index("check-derived") + 1]
                                               if not EDITION.step(n).writes]  # fmt: skip


def test_the_overhead_benchmark_runs_and_both_sides_agree(published_2018):
    """The session's published edition is the flow side of the benchmark's run (conftest)."""
    result = overhead_benchmark(published_2018[0])
    # the declaration run without Prefect gives the flow's Parquet files byte for byte
    published = sorted((published_2018[0] / "edition=2018").glob("*.parquet"))
    assert result["same_outputs"] is True and result["compared"] == len(published) > 10
    assert result["memory_s"] > 0 and result["flow_s"] > 0
    assert f"ratio flow / in memory: {result['ratio']:.2f}" in result["printed"]
