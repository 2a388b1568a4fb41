"""The edition pipeline, declared once as data: named steps with their function, inputs and output.

Like a Kedro pipeline of nodes, the whole data flow reads on one screen. A step takes
datasets by name from the run's data (the parameters `catalog`, `edition`, `run_id`,
`flow_run_id`, `started`, `timings`, or an earlier step's output) and adds its output under
its name. `score-edition` (flows/edition.py) runs every step as a Prefect task; `coopindex
validate` runs the read-only slice up to the checks; tests, the sample generator and the
benchmarks run the declaration or a named slice of it in memory (`Pipeline.run`).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, MutableMapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.edition.checks import (
    check_derived,
    check_inputs,
    check_trade,
    finish_data_docs,
    record_blocked_trade,
    record_validation,
    validate_inputs,
    write_data_docs,
)
from tasks.edition.outputs import edition_datasets, edition_manifest
from tasks.edition.read import load_inputs, refresh_trade
from tasks.edition.scoring import analyse_scores, derive_trade, indicator_table, score
from tasks.report.build import write_edition_report
from tasks.report.workbook import stage_workbook
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.publish import new_run_id, publish_edition, stage

# What a run starts with; every other dataset is a step's output. `workers`: an Executor that
# steps may hand part of their work to (None: all of it in this process).
PARAMETERS = ("catalog", "edition", "run_id", "flow_run_id", "started", "timings", "workers")


@dataclass(frozen=True)
class Step:
    """One node: `func(*inputs)` becomes dataset `output` (None: a check that raises or passes)."""

    name: str
    func: Callable[..., Any]
    inputs: tuple[str, ...]
    output: str | None = None
    writes: bool = False  # writes to the warehouse: not part of a read-only run
    reads_files: bool = False  # reads raw files or the store: an I/O fault there is worth a retry
    timeout_s: float = 300  # minutes where the sample takes seconds: a hung read fails the run
    # The output is a handle on writes handed to `workers` (its `wait()` returns once they are
    # done): a run that fails later waits for them before it raises, so what a failure points
    # at (the run's Data Docs) is complete when it is reported.
    background: bool = False


Execute = Callable[[Step, tuple[Any, ...]], Any]
AfterStep = Callable[[Step, MutableMapping[str, Any]], None]


def call(step: Step, args: tuple[Any, ...]) -> Any:
    """Run a step in this process, as a plain function."""
    return step.func(*args)


@dataclass(frozen=True)
class Pipeline:
    steps: tuple[Step, ...]

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"no step {name!r}; steps: {[s.name for s in self.steps]}")

    def between(self, first: str | None = None, last: str | None = None) -> Pipeline:
        """The steps from `first` to `last`, both included (the start or the end when None)."""
        names = [s.name for s in self.steps]
        start = names.index(self.step(first).name) if first else 0
        stop = names.index(self.step(last).name) + 1 if last else len(names)
        return Pipeline(self.steps[start:stop])

    def without(self, *names: str) -> Pipeline:
        """The steps except `names` (each must be a step)."""
        dropped = {self.step(name).name for name in names}
        return Pipeline(tuple(s for s in self.steps if s.name not in dropped))

    def read_only(self) -> Pipeline:
        """The steps that write nothing to the warehouse."""
        return Pipeline(tuple(s for s in self.steps if not s.writes))

    def check(self, parameters: Iterable[str] = PARAMETERS) -> None:
        """Every input is a parameter or an earlier output, names are unique, arities match."""
        known, names = set(parameters), set()
        for step in self.steps:
            if step.name in names:
                raise ValueError(f"step {step.name!r} is declared twice")
            names.add(step.name)
            missing = [i for i in step.inputs if i not in known]
            if missing:
                raise ValueError(f"step {step.name!r} needs {missing}, which no earlier step makes")
            try:
                inspect.signature(step.func).bind(*step.inputs)
            except TypeError as exc:
                message = f"step {step.name!r}: {step.func.__name__} cannot take {step.inputs}"
                raise ValueError(message) from exc
            if step.output:
                if step.output in known:
                    raise ValueError(f"step {step.name!r} makes {step.output!r}, which already exists")
                known.add(step.output)

    def run(
        self, data: MutableMapping[str, Any], execute: Execute = call, after: AfterStep | None = None
    ) -> MutableMapping[str, Any]:
        """Run the steps in order on `data`, adding each output and timing (seconds) as it goes.

        `data` is updated in place, so a caller still holds what the steps before a failure made.
        """
        timings = data.setdefault("timings", {})
        try:
            for step in self.steps:
                start = time.perf_counter()
                result = execute(step, tuple(data[name] for name in step.inputs))
                timings[step.name] = round(time.perf_counter() - start, 3)
                if step.output:
                    data[step.output] = result
                if after is not None:
                    after(step, data)
        except BaseException as exc:
            self._settle(data, exc)
            raise
        return data

    def _settle(self, data: MutableMapping[str, Any], failure: BaseException) -> None:
        """Wait for the background writes of the steps that ran; one that failed is noted on the
        run's own failure, which is the one to report."""
        for step in self.steps:
            if step.background and step.output in data:
                try:
                    data[step.output].wait()
                except Exception as exc:  # noqa: BLE001 - noted, not raised
                    failure.add_note(f"{step.name} did not finish either: {exc}")


EDITION = Pipeline(
    (
        Step("ingest-trade", refresh_trade, ("catalog", "edition"), "trade_refresh",
             reads_files=True, timeout_s=3600),
        Step("record-blocked-trade", record_blocked_trade, ("catalog", "run_id", "edition", "trade_refresh"),
             "trade_reports", writes=True),
        Step("check-trade", check_trade, ("trade_refresh",)),
        Step("load-inputs", load_inputs, ("catalog", "edition"), "inputs", reads_files=True),
        Step("validate-inputs", validate_inputs, ("catalog", "inputs"), "checked", timeout_s=600),
        Step("write-data-docs", write_data_docs, ("catalog", "run_id", "checked", "workers"), "data_docs",
             writes=True, background=True),
        Step("record-validation", record_validation, ("catalog", "run_id", "checked", "data_docs"), "reports",
             writes=True),
        Step("check-inputs", check_inputs, ("checked",), "clean"),
        Step("derive-trade-facts", derive_trade, ("clean",), "city_trade"),
        Step("assemble-indicator-values", indicator_table, ("clean", "city_trade"), "indicator_values",
             timeout_s=120),
        Step("check-derived", check_derived, ("catalog", "clean", "indicator_values"), "derived"),
        Step("compute-index", score, ("clean", "indicator_values"), "stages"),
        Step("analyse-scores", analyse_scores, ("clean", "stages"), "analysis", timeout_s=600),
        Step("assemble-datasets", edition_datasets,
             ("edition", "clean", "checked", "city_trade", "indicator_values", "derived", "stages",
              "analysis"),
             "datasets"),
        Step("stage-edition", stage, ("catalog", "edition", "run_id", "datasets"), "version",
             writes=True, reads_files=True),
        Step("assemble-manifest", edition_manifest,
             ("catalog", "edition", "run_id", "flow_run_id", "started", "timings", "clean", "checked",
              "derived", "reports", "stages", "datasets", "version"),
             "manifest"),
        Step("write-workbook", stage_workbook, ("catalog", "edition", "version"), "workbook", writes=True),
        Step("write-report", write_edition_report,
             ("catalog", "edition", "version", "manifest", "clean", "workers"), "report", writes=True,
             timeout_s=300),
        Step("finish-data-docs", finish_data_docs, ("data_docs",)),
        Step("publish-edition", publish_edition, ("catalog", "edition", "version", "manifest"), "published",
             writes=True, timeout_s=120),
    )
)  # fmt: skip
EDITION.check()
# `coopindex validate`: every check an edition runs, writing nothing.
CHECKS = EDITION.read_only().between(last="check-derived")


def start(
    catalog: Catalog, edition: int, flow_run_id: str | None = None, workers: Executor | None = None
) -> dict[str, Any]:
    """The parameters of a new run of `edition`."""
    return {
        "catalog": catalog,
        "edition": edition,
        "run_id": new_run_id(),
        "flow_run_id": flow_run_id,
        "started": datetime.now(UTC),
        "timings": {},
        "workers": workers,
    }


def run_edition(catalog: Catalog, edition: int, pipeline: Pipeline = EDITION) -> MutableMapping[str, Any]:
    """Score and publish `edition` in this process, without Prefect (tests, benchmarks, tools)."""
    return pipeline.run(start(catalog, edition))
