"""The steps of one edition as plain functions: read inputs, check them, derive, score.

An edition scores data year N. It reads the reference tables, the framework and method, the
indicator values up to year N (earlier years feed the panel imputations) and the trade of the
years its trade indicators need (N, N-1 for growth, N-lag for the import base). Trade records
are never loaded: `ingest_trade` brings the clean trade store up to date (new or changed files
only, in bounded memory, `tasks.trade.ingest`), and the edition reads its aggregates, checks and
quarantined rows (`tasks.trade.store`). `flows/edition.py` runs these steps as Prefect tasks;
tests and benchmarks can call them directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from tasks.engine.analysis import analyse
from tasks.engine.framework import Framework
from tasks.engine.index import IndexStages, compute_index, wide_values
from tasks.engine.method import Method, read_method
from tasks.quality import data_docs, load
from tasks.quality.quarantine import Triage, quarantine_table, raise_for_blocking, triage
from tasks.quality.results import merge_results, results_table
from tasks.quality.suites import load_suite
from tasks.quality.validation import MAX_EXAMPLES, Failure, SuiteOutcome, validate
from tasks.trade.figures import city_trade, trade_indicators
from tasks.trade.file import DATASET as TRADE_DATASET
from tasks.trade.fx import fx_keys
from tasks.trade.ingest import BlockedFilesError, IngestReport, InvalidReferencesError, city_year
from tasks.trade.ingest import ingest_trade as ingest_store
from tasks.trade.membership import member_keys
from tasks.trade.store import TradeView, batch_name, view
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.publish import write_parquet


class EditionBusyError(RuntimeError):
    """Another run holds the edition's lock (see `flows.edition.score_edition`)."""


class MissingInputError(FileNotFoundError):
    """An input the edition needs is not on disk; names what and where."""


@dataclass
class Inputs:
    """Everything an edition reads, as typed frames that remember their source lines."""

    edition: int
    method: Method
    framework_table: pd.DataFrame
    cities: pd.DataFrame
    members: pd.DataFrame
    fx_rates: pd.DataFrame
    national_trade: pd.DataFrame
    trade: TradeView
    indicator_values: pd.DataFrame
    suites: Path  # the GX suites' folder (Catalog.expectations)
    files: list[Path] = field(default_factory=list)

    @cached_property
    def framework(self) -> Framework:
        """The checked framework tree, built once from the table every step needs."""
        return Framework.from_table(self.framework_table)

    @property
    def trade_years(self) -> list[int]:
        return trade_years(self.edition, self.method)

    def row_counts(self) -> dict[str, int]:
        names = ("framework_table", "cities", "members", "fx_rates", "national_trade", "indicator_values")
        return {name: len(getattr(self, name)) for name in names} | {"trade_records": self.trade.rows}


def trade_years(edition: int, method: Method) -> list[int]:
    """The data years whose trade records an edition needs, oldest first."""
    return sorted({edition, edition - 1, edition - method.trade.import_base_lag})


def ingest_trade(catalog: Catalog, edition: int) -> IngestReport | None:
    """Bring the trade store up to date for the edition's trade years (new or changed files only).

    One file at a time in this process: the monthly refresh (`coopindex ingest`, or its
    deployment) is where many files run in parallel; an edition usually finds nothing to do.
    None when a reference table fails its checks: `validate_inputs` reports that, and blocks.
    """
    method = read_method(_required(catalog.method))
    if not catalog.trade_files(edition):
        raise MissingInputError(
            f"no trade records for {edition}: expected "
            f"{catalog.relative(catalog.raw)}/trade/{edition}/{edition}-MM.csv"
        )
    years = [y for y in trade_years(edition, method) if catalog.trade_files(y)]
    try:
        return ingest_store(catalog.raw, catalog.warehouse, years, workers=1, config_dir=catalog.config)
    except InvalidReferencesError:
        return None


def load_inputs(catalog: Catalog, edition: int, ingest: bool = True) -> Inputs:
    """Read every input of `edition`; trade years before the first on file are simply absent.

    The trade comes from the store, brought up to date first unless `ingest` is False (the flow
    runs `ingest_trade` as its own step).
    """
    method = read_method(_required(catalog.method))
    label = {p: catalog.relative(p) for p in _all_inputs(catalog, edition, method)}
    indicators_folder = catalog.raw / "indicators"
    load.check_folder(indicators_folder, catalog.relative(indicators_folder))

    def read(path: Path, columns: dict[str, str]) -> pd.DataFrame:
        return load.read_csv(_required(path), columns, label.get(path))

    if ingest:
        ingest_trade(catalog, edition)
    indicator_files = catalog.indicator_files()
    if not indicator_files:
        raise MissingInputError(f"no indicator files in {catalog.relative(catalog.raw)}/indicators/")
    indicators = load.read_many(indicator_files, load.INDICATOR_VALUES, label)
    return Inputs(
        edition=edition,
        method=method,
        framework_table=load.read_csv(
            _required(catalog.framework),
            load.FRAMEWORK,
            label.get(catalog.framework),
            load.FRAMEWORK_SETTINGS,
        ),
        cities=read(catalog.cities, load.CITIES),
        members=read(catalog.ceec_members, load.CEEC_MEMBERS),
        fx_rates=read(catalog.fx_rates, load.FX_RATES),
        national_trade=read(catalog.national_trade, load.NATIONAL_TRADE),
        trade=view(catalog, trade_years(edition, method)),
        indicator_values=indicators[indicators["year"] <= edition].reset_index(drop=True),
        suites=catalog.expectations,
        files=sorted(label),
    )


# Reference tables are small and everything depends on them: any bad row stops the edition.
# (Trade records are triaged file by file by the ingest, `tasks.trade.file`.)
ROW_DATASETS = {"indicator_values": "indicator_values"}


@dataclass
class Checked:
    """The inputs after validation: bad rows quarantined, and what (if anything) blocks."""

    inputs: Inputs
    outcomes: list[SuiteOutcome]
    triages: list[Triage]

    @property
    def quarantine(self) -> pd.DataFrame:
        return quarantine_table(self.triages)

    def raise_if_blocked(self) -> None:
        raise_for_blocking(self.triages)


def validate_inputs(inputs: Inputs) -> Checked:
    """Run every input's GX suite and triage the rows: quarantine a few, block on more.

    Rows of the indicator values that fail row-level critical checks are set aside when they
    are at most `quality.quarantine_max_share` of their file; the rest proceed. Any other
    critical failure blocks (see `Checked.raise_if_blocked`). The trade records were checked
    and triaged the same way by the ingest: their outcome and quarantined rows are added here.
    """
    outcomes = run_suites(inputs)
    share = inputs.method.quality.quarantine_max_share
    frames = _frames(inputs)
    triages = [triage(frames[o.dataset], o, share if o.dataset in ROW_DATASETS else 0.0) for o in outcomes]
    clean = {ROW_DATASETS[t.dataset]: t.clean for t in triages if t.dataset in ROW_DATASETS}
    trade_outcome, trade_triage = trade_checks(inputs.trade)
    return Checked(dataclasses.replace(inputs, **clean), [*outcomes, trade_outcome], [*triages, trade_triage])


def trade_checks(trade: TradeView) -> tuple[SuiteOutcome, Triage]:
    """The ingest's checks of the edition's trade files as one outcome (counts summed over the
    files), and their quarantined rows as a triage (the rows are already out of the store)."""
    merged = merge_results(trade.results)
    quarantine = trade.quarantine
    failures = []
    for row in merged[~merged["success"]].itertuples():
        rows = quarantine[quarantine["expectation"] == row.expectation].head(MAX_EXAMPLES)
        failures.append(
            Failure(
                dataset=TRADE_DATASET,
                expectation=row.expectation,
                column=row.column,
                severity=row.severity,
                unexpected_count=int(row.unexpected_count),
                examples=[(r.file, int(r.line), r.value) for r in rows.itertuples()],
                expected=row.expected,
                observed=row.observed,
                row_level=True,
            )
        )
    outcome = SuiteOutcome(TRADE_DATASET, True, trade.rows, merged.to_dict("records"), failures)
    removed = int(quarantine[["file", "line"]].drop_duplicates().shape[0])
    return outcome, Triage(TRADE_DATASET, pd.DataFrame(), quarantine, removed=removed)


def record_validation(catalog: Catalog, run_id: str, checked: Checked) -> dict[str, str]:
    """Data Docs and quarantined rows of this run under `warehouse/runs/<run_id>/`, even when
    the edition is blocked: those are the runs whose reports a data steward needs."""
    specs = {name: load_suite(name, catalog.expectations) for name in {o.dataset for o in checked.outcomes}}
    pairs = [(specs[o.dataset], o.gx_result) for o in checked.outcomes if o.gx_result is not None]
    trade = [(specs[TRADE_DATASET], result, name) for name, result in checked.inputs.trade.gx_results]
    return write_report(
        catalog, run_id, f"edition-{checked.inputs.edition}", [*pairs, *trade],
        results_table(checked.outcomes), checked.quarantine,
    )  # fmt: skip


def record_blocked_trade(
    catalog: Catalog, run_id: str, edition: int, error: BlockedFilesError
) -> dict[str, str]:
    """The report of a run stopped by trade files the ingest refused: their checks, their bad
    rows and Data Docs, in `warehouse/runs/<run_id>/` as for any validation."""
    spec = load_suite(TRADE_DATASET, catalog.expectations)
    pairs = [(spec, r, batch_name(f.label, i)) for f in error.files for i, r in enumerate(f.gx_results)]
    results = pd.concat([f.results for f in error.files], ignore_index=True)
    quarantine = pd.concat([f.quarantine for f in error.files], ignore_index=True)
    return write_report(catalog, run_id, f"edition-{edition}", pairs, results, quarantine)


def write_report(
    catalog: Catalog,
    run_id: str,
    batch: str,
    gx_results: list[tuple],
    results: pd.DataFrame,
    quarantine: pd.DataFrame,
) -> dict[str, str]:
    """Data Docs, every check's outcome and the quarantined rows of one run, under runs/<run_id>/."""
    folder = catalog.run_dir(run_id)
    docs = data_docs.build(gx_results, folder / "data_docs", run_id, batch)
    paths = {"data_docs": catalog.relative_to_warehouse(docs)}
    # Every check's outcome with the run id (the published edition's copy has none, so that
    # reruns stay byte-identical).
    target = folder / "validation.parquet"
    write_parquet(results.assign(run_id=run_id), target.with_suffix(".tmp"))
    target.with_suffix(".tmp").replace(target)
    paths["validation"] = catalog.relative_to_warehouse(target)
    if len(quarantine):
        target = folder / "quarantine.parquet"
        write_parquet(quarantine, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)
        paths["quarantine"] = catalog.relative_to_warehouse(target)
    return paths


def run_suites(inputs: Inputs) -> list[SuiteOutcome]:
    """Every input's GX suite, outcomes only: nothing raises for bad data."""
    framework = inputs.framework
    parameters = {
        "known_cities": sorted(inputs.cities["city_code"]),
        "member_keys": member_keys(inputs.members, inputs.trade_years),
        "fx_keys": fx_keys(inputs.fx_rates),
        "known_indicators": framework.by_origin("indicators"),
    }  # (the trade records' suite runs in the ingest, file by file)
    return [
        validate(frame, dataset, parameters, suites=inputs.suites)
        for dataset, frame in _frames(inputs).items()
    ]


def _frames(inputs: Inputs) -> dict[str, pd.DataFrame]:
    """Each input frame under the name of its GX suite."""
    return {
        "framework": inputs.framework_table,
        "cities": inputs.cities,
        "ceec_members": inputs.members,
        "fx_rates": inputs.fx_rates,
        "national_trade": inputs.national_trade,
        "indicator_values": inputs.indicator_values,
    }


def derive_trade(inputs: Inputs) -> pd.DataFrame:
    """Each city's trade figures for the edition, from the store's per-file aggregates."""
    national = inputs.national_trade
    if inputs.edition not in set(national["year"]):
        file = national["source_file"].iloc[0] if len(national) else "raw/reference/national_trade.csv"
        raise MissingInputError(
            f"{file}: no national trade for {inputs.edition}, the denominator of city shares"
        )
    return city_trade(
        city_year(inputs.trade.aggregates),
        inputs.national_trade,
        inputs.cities["city_code"].tolist(),
        inputs.edition,
        inputs.method.trade.import_base_lag,
        years_on_file=set(inputs.trade.years),
    )


def check_derived(inputs: Inputs, values: pd.DataFrame) -> list[SuiteOutcome]:
    """Cross-dataset checks that need derived figures; their failures are warnings.

    Reconciliation: the cities' trade, summed from the records, against the national total of
    each year and flow (cities cannot trade more than the country). Coverage: each city's share
    of indicator values against the screening threshold (a city below it is not scored).
    """
    national = inputs.national_trade.set_index(["year", "flow"])
    cities = inputs.trade.aggregates.groupby(["year", "flow"])["value_cny"].sum().rename("cities_cny")
    reconciliation = national.join(cities, how="inner").reset_index()
    reconciliation = reconciliation.rename(columns={"value_cny": "national_cny"})
    reconciliation["cities_share"] = reconciliation["cities_cny"] / reconciliation["national_cny"]

    framework = inputs.framework
    wide = wide_values(values, framework, inputs.cities["city_code"].tolist())
    coverage = pd.DataFrame(
        {
            "city_code": wide.index,
            "indicators": wide.shape[1],
            "available": wide.notna().sum(axis=1).to_numpy(),
        }
    )
    coverage["availability"] = coverage["available"] / coverage["indicators"]
    lines = inputs.cities.set_index("city_code")
    coverage["source_file"] = coverage["city_code"].map(lines["source_file"])
    coverage["source_line"] = coverage["city_code"].map(lines["source_line"]).astype("int64")
    parameters = {"min_availability": inputs.method.screen.min_availability}
    return [
        validate(reconciliation, "trade_reconciliation", parameters, suites=inputs.suites),
        validate(coverage, "indicator_coverage", parameters, suites=inputs.suites),
    ]


def indicator_table(inputs: Inputs, facts: pd.DataFrame) -> pd.DataFrame:
    """All indicator values of the edition, read and derived, with their source."""
    framework = inputs.framework
    this_year = inputs.indicator_values["year"] == inputs.edition
    read = inputs.indicator_values.loc[this_year, ["year", "city_code", "indicator", "value", "source"]]
    derived = trade_indicators(facts, framework.by_origin("trade"))
    table = pd.concat([read, derived], ignore_index=True)
    table["origin"] = table["indicator"].map(framework.column("origin"))
    table["unit"] = table["indicator"].map(framework.column("unit"))
    return table.sort_values(["indicator", "city_code"]).reset_index(drop=True)


def score(inputs: Inputs, values: pd.DataFrame) -> IndexStages:
    framework = inputs.framework
    raw = wide_values(values, framework, inputs.cities["city_code"].tolist())
    return compute_index(
        raw, framework, inputs.method, settings=framework.settings(), history=history(inputs)
    )


def history(inputs: Inputs) -> pd.DataFrame:
    """Earlier years' indicator values, (city, year) x indicator, for the panel imputations."""
    earlier = inputs.indicator_values[inputs.indicator_values["year"] < inputs.edition]
    return earlier.pivot_table(
        index=["city_code", "year"], columns="indicator", values="value", aggfunc="first"
    )


def analyse_scores(inputs: Inputs, stages: IndexStages) -> dict[str, pd.DataFrame]:
    """Contributions, strengths and weaknesses, and the method's uncertainty analysis."""
    framework = inputs.framework
    return analyse(
        stages,
        framework,
        inputs.method,
        unit="city_code",
        settings=framework.settings(),
        history=history(inputs),
    )


def _all_inputs(catalog: Catalog, edition: int, method: Method) -> list[Path]:
    trade = [f for year in trade_years(edition, method) for f in catalog.trade_files(year)]
    reference = [catalog.cities, catalog.ceec_members, catalog.fx_rates, catalog.national_trade]
    return [*reference, catalog.framework, catalog.method, *trade, *catalog.indicator_files()]


def _required(path: Path) -> Path:
    if not path.is_file():
        raise MissingInputError(f"missing input file: {path}")
    return path
