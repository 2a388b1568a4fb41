"""Check an edition's inputs: every GX suite, the triage of bad rows, the run's report, the gates.

Reference tables are small and everything depends on them: any bad row stops the edition.
Rows of the indicator values that fail row-level critical checks are set aside when they are
at most `quality.quarantine_max_share` of their file; the rest proceed. The trade records were
checked and triaged the same way, file by file, by the ingest (`tasks.trade.file`): their
outcome and quarantined rows are added here, and their clean rows meet the one rule that needs
more than a file: each row against its key's other months (`trade_history`). The report (Data
Docs, every check's outcome, the quarantined rows) is written under `warehouse/runs/<run_id>/`
even when the edition is blocked: those are the runs whose reports a data steward needs.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from dataclasses import dataclass

import pandas as pd

from tasks.edition.read import Inputs, TradeRefresh
from tasks.engine.index import wide_values
from tasks.parquet import write_parquet
from tasks.quality import data_docs
from tasks.quality.docs_pages import merge
from tasks.quality.quarantine import Triage, quarantine_table, raise_for_blocking, triage
from tasks.quality.results import merge_results, results_table
from tasks.quality.suites import load_suite
from tasks.quality.validation import MAX_EXAMPLES, Failure, SuiteOutcome, raise_for_failures, validate
from tasks.trade.file import DATASET as TRADE_DATASET
from tasks.trade.fx import fx_keys
from tasks.trade.history import DATASET as HISTORY_DATASET
from tasks.trade.history import history_frame
from tasks.trade.membership import member_keys
from tasks.trade.store import TradeView, without
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.runs import referenced_data_docs

# The datasets whose bad rows may be quarantined (the others block on any bad row).
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

    @property
    def blocking(self) -> list[Failure]:
        return [f for t in self.triages for f in t.blocking]

    @property
    def quarantined_rows(self) -> int:
        return int(sum(t.removed for t in self.triages))


def validate_inputs(catalog: Catalog, inputs: Inputs) -> Checked:
    """Run every input's GX suite and triage the rows: quarantine a few, block on more."""
    outcomes = run_suites(catalog, inputs)
    share = inputs.method.quality.quarantine_max_share
    frames = _frames(inputs)
    triages = [triage(frames[o.dataset], o, share if o.dataset in ROW_DATASETS else 0.0) for o in outcomes]
    clean = {ROW_DATASETS[t.dataset]: t.clean for t in triages if t.dataset in ROW_DATASETS}
    trade_outcome, trade_triage = trade_checks(inputs.trade)
    history_outcome, history_triage, trade = history_checks(catalog, inputs.trade, share)
    return Checked(
        dataclasses.replace(inputs, **clean, trade=trade),
        [*outcomes, trade_outcome, history_outcome],
        [*triages, trade_triage, history_triage],
    )


def run_suites(catalog: Catalog, inputs: Inputs) -> list[SuiteOutcome]:
    """Every input's GX suite, outcomes only: nothing raises for bad data."""
    framework = inputs.framework
    parameters = {
        "known_cities": sorted(inputs.cities["city_code"]),
        "member_keys": member_keys(inputs.members, inputs.trade_years),
        "fx_keys": fx_keys(inputs.fx_rates),
        "known_indicators": framework.by_origin("indicators"),
    }  # (the trade records' suite runs in the ingest, file by file)
    suites = catalog.expectations
    return [validate(frame, dataset, parameters, suites=suites) for dataset, frame in _frames(inputs).items()]


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


def history_checks(
    catalog: Catalog, trade: TradeView, share: float
) -> tuple[SuiteOutcome, Triage, TradeView]:
    """Each clean trade row against its key's other months in the edition's trade years (a check
    no single file can make): the suite's outcome, its triage (the rows it quarantines, or the
    files they block; the frame itself is not kept), and the trade without the quarantined rows."""
    frame = history_frame(trade)
    outcome = validate(frame, HISTORY_DATASET, suites=catalog.expectations, fingerprint=False)
    checked = triage(frame, outcome, share)
    removed = frame.loc[frame.index.difference(checked.clean.index)]
    return outcome, dataclasses.replace(checked, clean=pd.DataFrame()), without(trade, removed)


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


def record_blocked_trade(
    catalog: Catalog, run_id: str, edition: int, refresh: TradeRefresh
) -> dict[str, str]:
    """The report of a run stopped by trade files the ingest refused: their checks, their bad
    rows and Data Docs, as for any validation. Nothing when no file was refused."""
    if refresh.blocked is None:
        return {}
    files = refresh.blocked.files
    spec = load_suite(TRADE_DATASET, catalog.expectations)
    pairs = [(spec, merge(f.gx_results), f.label) for f in files if f.gx_results]
    results = pd.concat([f.results for f in files], ignore_index=True)
    quarantine = pd.concat([f.quarantine for f in files], ignore_index=True)
    return write_report(catalog, run_id, pairs, results, quarantine)


def check_trade(refresh: TradeRefresh) -> None:
    """Stop here when the ingest refused trade files (the report names their checks)."""
    if refresh.blocked is not None:
        raise refresh.blocked


def write_data_docs(
    catalog: Catalog, run_id: str, checked: Checked, workers: Executor | None = None
) -> data_docs.Site:
    """The run's Data Docs, a page per input file, trade files included; built by `workers`
    when given, while the edition is scored (nothing the edition computes reads them). The run
    waits for the site before it publishes (`finish-data-docs`) or reports a failure."""
    specs = {name: load_suite(name, catalog.expectations) for name in {o.dataset for o in checked.outcomes}}
    pages = [(specs[o.dataset], page, file) for o in checked.outcomes for file, page in o.pages]
    trade = [(specs[TRADE_DATASET], result, name) for name, result in checked.inputs.trade.gx_results]
    folder = catalog.data_docs(run_id)
    return data_docs.build_site([*pages, *trade], folder, run_id, referenced_data_docs(catalog), workers)


def record_validation(
    catalog: Catalog, run_id: str, checked: Checked, site: data_docs.Site
) -> dict[str, str]:
    """Every check's outcome and the quarantined rows of this run, blocked or not, beside its
    Data Docs: the run's reports, by name."""
    paths = {"data_docs": catalog.relative_to_warehouse(site.index)}
    return paths | write_tables(catalog, run_id, results_table(checked.outcomes), checked.quarantine)


def check_inputs(checked: Checked) -> Inputs:
    """Stop on anything that blocks; the clean inputs (quarantined rows removed) go on."""
    raise_for_blocking(checked.triages)
    return checked.inputs


def finish_data_docs(site: data_docs.Site) -> None:
    """The run's Data Docs are written before its edition is published (the manifest links them)."""
    site.wait()


def write_report(
    catalog: Catalog,
    run_id: str,
    pages: list[tuple[dict, dict, str]],
    results: pd.DataFrame,
    quarantine: pd.DataFrame,
) -> dict[str, str]:
    """Data Docs, every check's outcome and the quarantined rows of one run, under runs/<run_id>/."""
    docs = data_docs.build(pages, catalog.data_docs(run_id), run_id, referenced_data_docs(catalog))
    return {"data_docs": catalog.relative_to_warehouse(docs)} | write_tables(
        catalog, run_id, results, quarantine
    )


def write_tables(
    catalog: Catalog, run_id: str, results: pd.DataFrame, quarantine: pd.DataFrame
) -> dict[str, str]:
    """Every check's outcome with the run id (the published edition's copy has none, so that
    reruns stay byte-identical) and the quarantined rows, under runs/<run_id>/."""
    folder = catalog.run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"validation": results.assign(run_id=run_id)}
    if len(quarantine):
        tables["quarantine"] = quarantine
    paths = {}
    for name, table in tables.items():
        target = folder / f"{name}.parquet"
        write_parquet(table, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)
        paths[name] = catalog.relative_to_warehouse(target)
    return paths


def check_derived(catalog: Catalog, inputs: Inputs, values: pd.DataFrame) -> list[SuiteOutcome]:
    """Cross-dataset checks that need derived figures; a critical failure stops the edition.

    Reconciliation: the cities' trade, summed from the records, against the national total of
    each year and flow (a warning: the two come from different sources), and each city's own
    total against it (critical: no city trades more than the country; a wild record does).
    Coverage: each city's share of indicator values against the screening threshold (a city
    below it is not scored).
    """
    national = inputs.national_trade.set_index(["year", "flow"])
    cities = inputs.trade.aggregates.groupby(["year", "flow"])["value_cny"].sum().rename("cities_cny")
    reconciliation = national.join(cities, how="inner").reset_index()
    reconciliation = reconciliation.rename(columns={"value_cny": "national_cny"})
    reconciliation["cities_share"] = reconciliation["cities_cny"] / reconciliation["national_cny"]
    by_city = inputs.trade.aggregates.groupby(["year", "flow", "city_code"])
    city = by_city["value_cny"].sum().rename("city_cny")
    per_city = national.join(city.reset_index().set_index(["year", "flow"]), how="inner").reset_index()
    per_city = per_city.rename(columns={"value_cny": "national_cny"})
    per_city["city_share"] = per_city["city_cny"] / per_city["national_cny"]

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
    outcomes = [
        validate(reconciliation, "trade_reconciliation", parameters, suites=catalog.expectations),
        validate(per_city, "city_reconciliation", parameters, suites=catalog.expectations),
        validate(coverage, "indicator_coverage", parameters, suites=catalog.expectations),
    ]
    raise_for_failures(outcomes)
    return outcomes
