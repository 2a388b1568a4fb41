"""The declared edition pipeline: its shape, and in-memory runs against the Prefect flow's outputs."""

from __future__ import annotations

import importlib.util

import pytest

from tasks.edition.pipeline import CHECKS, EDITION, PARAMETERS, Pipeline, Step, run_edition
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tests.conftest import seeded_warehouse


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


def test_validate_runs_the_checks_and_writes_nothing():
    assert not any(s.writes for s in CHECKS.steps)
    assert CHECKS.steps[-1].name == "check-derived"
    names = [s.name for s in EDITION.steps]
    assert [s.name for s in CHECKS.steps] == [n for n in names[: names.index("check-derived") + 1]
                                               if not EDITION.step(n).writes]  # fmt: skip


def test_an_in_memory_run_publishes_the_flows_bytes(published_2018, shipped_store, tmp_path):
    """The declaration run without Prefect gives the flow's Parquet files byte for byte."""
    flow_warehouse, _ = published_2018
    warehouse = seeded_warehouse(shipped_store, tmp_path / "warehouse")
    data = run_edition(Catalog(warehouse=warehouse), 2018)
    assert data["published"] == warehouse / "edition=2018"
    for path in sorted((flow_warehouse / "edition=2018").glob("*.parquet")):
        assert (warehouse / "edition=2018" / path.name).read_bytes() == path.read_bytes(), path.name
    assert data["manifest"]["flow_run_id"] is None


@pytest.mark.slow
def test_the_overhead_benchmark_runs_and_both_sides_agree(prefect_server, capsys):
    spec = importlib.util.spec_from_file_location(
        "overhead", PROJECT_ROOT / "bench" / "bench_prefect_overhead.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--edition", "2018"])
    assert result["same_outputs"] is True
    assert result["memory_s"] > 0 and result["flow_s"] > 0
    assert "ratio flow / in memory" in capsys.readouterr().out
