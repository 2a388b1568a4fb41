"""Run suite expectations on a DataFrame with Great Expectations, and read what GX returns.

The Prefect integration for GX does not work with GX 1.x, so this module drives GX directly.
It stays free of Prefect so it can be tested and reused on its own; flows wrap it in tasks.

* GX runs in an *ephemeral* context, so a fresh clone validates with no GX project directory
  or state on disk. The context is built once per process and GX is imported lazily: the
  import alone takes ~3 s, which CLI help or flows that validate nothing should not pay.
* Each run asks for a lean COMPLETE result: GX then returns the index of *every* failing row
  (``unexpected_index_list``; the partial lists stop at 20 rows, the value list at 200) but
  neither the ``df.filter(items=[...])`` query text nor value counts. On clean data this costs
  what a SUMMARY pass does, and a failure needs no second pass.
* GX fingerprints every pandas batch under 1 GB (an MD5 of every cell, twice per run: about
  half the time of a whole-suite run) only to put it in the result's batch markers. GX has
  no setting for it, so a frame built for GX (`tasks.quality.distinct`), whose fingerprint
  would name nothing, runs on a data source of our own whose engine loads a DataFrame as GX's
  does, minus the fingerprint (`_register_unfingerprinted_source`). That source lives in a
  second context so that both carry the same name: the results name the same batch either way.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

# COMPLETE for the full `unexpected_index_list`, minus what nobody reads: the filter query
# text (a string of every failing index) and the partial lists and value counts.
_LOCATE: dict[str, Any] = {
    "result_format": "COMPLETE",
    "partial_unexpected_count": 0,
    "return_unexpected_index_query": False,
}
# Meta key used to map GX results (returned in no particular order) back to the suite order.
POSITION = "_position"
# The data source and asset every batch comes from; they name the batch in GX's results.
_SOURCE, _ASSET = "coopindex", "frames"
# A pandas data source shares one execution engine, and every DataFrame batch of an asset
# gets the same batch id: concurrent validations (Prefect thread pools) must not interleave.
_GX_LOCK = threading.Lock()


@dataclass(frozen=True)
class SuiteRun:
    """GX's result of each expectation that ran, keyed by its position in the suite, and the
    result of the run as a whole (None when nothing ran)."""

    results: dict[int, ExpectationValidationResult] = field(default_factory=dict)
    suite: ExpectationSuiteValidationResult | None = None


def run_suite(
    frame: pd.DataFrame,
    dataset: str,
    expectations: list[dict],
    positions: Iterable[int],
    parameters: dict[str, Any],
    fingerprint: bool = True,
) -> SuiteRun:
    """Validate the expectations at ``positions`` on ``frame``, as one batch, in one GX pass.

    ``parameters`` are the suite's ``$PARAMETER`` values. Without ``fingerprint`` GX does not
    hash the frame, as it does not for frames over 1 GB. Nothing runs (not even GX's batch)
    when there are no positions.

    Batch.validate takes an unsaved suite and, unlike ValidationDefinition.run, keeps no
    result in the context's in-memory store, so a long-lived process does not accumulate them.
    """
    tagged = []
    for i in positions:
        exp = expectations[i]
        tagged.append({**exp, "meta": {**exp.get("meta", {}), POSITION: i}})
    if not tagged:
        return SuiteRun()
    import great_expectations as gx

    with _GX_LOCK:
        suite = gx.ExpectationSuite(name=dataset, expectations=tagged)
        batch = _whole_frames(fingerprint).get_batch(batch_parameters={"dataframe": frame})
        outcome = batch.validate(suite, result_format=_LOCATE, expectation_parameters=parameters)
    return SuiteRun({int(r.expectation_config.meta[POSITION]): r for r in outcome.results}, outcome)


def failing_positions(result: ExpectationValidationResult) -> np.ndarray | None:
    """The failing rows GX listed, or None when it passed or listed none."""
    unexpected = int(result.result.get("unexpected_count") or 0)
    return _positions(result) if not result.success and unexpected else None


def error_message(result: ExpectationValidationResult) -> str | None:
    """GX reports errors (e.g. a missing column) either flat or keyed by metric id."""
    info = result.exception_info or {}
    for entry in [info, *info.values()]:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return f"an error: {entry.get('exception_message')}"
    return None


def without_row_lists(suite_result: Any) -> Any:
    """GX's suite result without the per-row lists (they can hold millions of entries)."""
    if suite_result is None:
        return None
    for result in suite_result.results:
        for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            result.result.pop(key, None)
    return suite_result


def _positions(result: ExpectationValidationResult) -> np.ndarray | None:
    """Every failing row's position, from GX's complete ``unexpected_index_list``.

    GX returns the unexpected rows' index labels, which equal positions because the frame has
    a fresh RangeIndex. Asking GX for ``unexpected_index_column_names`` instead would cost a
    per-row, per-column lookup inside GX: about 30 s for 100k bad rows, against 0.1 s here.
    None when GX gave no usable list (an aggregate check, an error).
    """
    labels = result.result.get("unexpected_index_list")
    if not labels:
        return None
    positions = np.asarray(labels)
    if positions.ndim != 1 or positions.dtype.kind not in "iu":
        return None
    return positions.astype(np.int64, copy=False)


@lru_cache(maxsize=2)
def _whole_frames(fingerprint: bool) -> BatchDefinition:
    """The whole-DataFrame batch definition of a process-wide ephemeral context: on GX's own
    pandas data source, or without ``fingerprint`` on the one that skips the fingerprint."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # The ephemeral context announces a temporary docs folder at INFO on every start.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    if fingerprint:
        context = gx.get_context(mode="ephemeral")
    else:
        _register_unfingerprinted_source()
        # Without the temporary Data Docs site (and its announcement): nothing renders docs here.
        config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults())
        context = gx.get_context(mode="ephemeral", project_config=config)
    # TQDM_DISABLE does not reach GX's "Calculating Metrics" bars; this does.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    sources = context.data_sources
    source = (sources.add_pandas if fingerprint else sources.add_pandas_unfingerprinted)(_SOURCE)
    return source.add_dataframe_asset(_ASSET).add_batch_definition_whole_dataframe("whole")


@cache
def _register_unfingerprinted_source() -> None:
    """Register with GX the pandas data source ``pandas_unfingerprinted``, whose engine loads a
    DataFrame without hashing it; GX then offers ``context.data_sources.add_pandas_unfingerprinted``.

    GX's extension points, not a patch: a `Datasource` subclass names its engine in
    ``execution_engine_type``, and an engine implements ``get_batch_data_and_markers``. The
    engine does for a DataFrame what `PandasExecutionEngine` does (same batch data, same
    ``ge_load_time`` marker), only without ``pandas_data_fingerprint``; any other batch spec is
    GX's. Defined on first use, since GX is imported lazily and registers a type once.
    """
    from great_expectations.core.batch import BatchMarkers
    from great_expectations.core.batch_spec import RuntimeDataBatchSpec
    from great_expectations.datasource.fluent import PandasDatasource
    from great_expectations.datasource.fluent.pandas_datasource import DataFrameAsset
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.execution_engine.pandas_batch_data import PandasBatchData

    class UnfingerprintedEngine(PandasExecutionEngine):
        def get_batch_data_and_markers(self, batch_spec: Any) -> tuple[PandasBatchData, BatchMarkers]:
            if (
                not isinstance(batch_spec, RuntimeDataBatchSpec)
                or not isinstance(batch_spec.batch_data, pd.DataFrame)
                or batch_spec.get("partitioner_method")
                or batch_spec.get("sampling_method")
            ):
                return super().get_batch_data_and_markers(batch_spec)
            now = datetime.datetime.now(datetime.UTC)
            markers = BatchMarkers({"ge_load_time": now.strftime("%Y%m%dT%H%M%S.%fZ")})
            frame = batch_spec.batch_data
            batch_spec.batch_data = "PandasDataFrame"  # as GX leaves the spec for the results
            return PandasBatchData(execution_engine=self, dataframe=frame), markers

    # GX registers a data source class only if its name does not start with "_".
    class UnfingerprintedPandasDatasource(PandasDatasource):
        asset_types: ClassVar = [DataFrameAsset]
        type: Literal["pandas_unfingerprinted"] = "pandas_unfingerprinted"

        @property
        def execution_engine_type(self) -> type[PandasExecutionEngine]:
            return UnfingerprintedEngine
