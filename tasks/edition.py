"""The steps of one edition as plain functions: read inputs, check them, derive, score.

An edition scores data year N. It reads the reference tables, the framework and method, the
indicator values up to year N (earlier years feed the panel imputations) and the trade
records of the years its trade indicators need (N, N-1 for growth, N-lag for the import
base). `flows/edition.py` runs these steps as Prefect tasks; tests and benchmarks can call
them directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from tasks import data_docs, load
from tasks.analysis import analyse
from tasks.catalog import Catalog
from tasks.framework import Framework
from tasks.fx import fx_keys, to_cny
from tasks.index import IndexStages, compute_index, wide_values
from tasks.membership import member_keys
from tasks.method import Method, read_method
from tasks.publish import write_parquet
from tasks.quarantine import Triage, quarantine_table, raise_for_blocking, triage
from tasks.trade import city_trade, trade_indicators
from tasks.validation import SuiteOutcome, load_suite, results_table, validate


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
    trade_records: pd.DataFrame
    indicator_values: pd.DataFrame
    files: list[Path] = field(default_factory=list)

    @cached_property
    def framework(self) -> Framework:
        """The checked framework tree, built once from the table every step needs."""
        return Framework.from_table(self.framework_table)

    @property
    def trade_years(self) -> list[int]:
        return trade_years(self.edition, self.method)

    def row_counts(self) -> dict[str, int]:
        names = ("framework_table", "cities", "members", "fx_rates", "national_trade",
                 "trade_records", "indicator_values")  # fmt: skip
        return {name: len(getattr(self, name)) for name in names}


def trade_years(edition: int, method: Method) -> list[int]:
    """The data years whose trade records an edition needs, oldest first."""
    return sorted({edition, edition - 1, edition - method.trade.import_base_lag})


def load_inputs(catalog: Catalog, edition: int) -> Inputs:
    """Read every input of `edition`; trade years before the first on file are simply absent."""
    method = read_method(_required(catalog.method))
    label = {p: catalog.relative(p) for p in _all_inputs(catalog, edition, method)}
    indicators_folder = catalog.raw / "indicators"
    load.check_folder(indicators_folder, catalog.relative(indicators_folder))
    for year in trade_years(edition, method):
        folder = catalog.raw / "trade" / str(year)
        load.check_folder(folder, catalog.relative(folder), pattern=rf"{year}-(0[1-9]|1[0-2])\.csv")

    def read(path: Path, columns: dict[str, str]) -> pd.DataFrame:
        return load.read_csv(_required(path), columns, label.get(path))

    trade_files = [f for year in trade_years(edition, method) for f in catalog.trade_files(year)]
    if not catalog.trade_files(edition):
        raise MissingInputError(
            f"no trade records for {edition}: expected "
            f"{catalog.relative(catalog.raw)}/trade/{edition}/{edition}-MM.csv"
        )
    indicator_files = catalog.indicator_files()
    if not indicator_files:
        raise MissingInputError(f"no indicator files in {catalog.relative(catalog.raw)}/indicators/")
    records = load.read_many(trade_files, load.TRADE_RECORDS, label)
    records["year"] = pd.to_numeric(records["period"].str[:4], errors="coerce").fillna(-1).astype("int64")
    records["member_key"] = records["year"].astype("str") + ":" + records["partner"]
    records["fx_key"] = records["year"].astype("str") + ":" + records["currency"]
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
        trade_records=records,
        indicator_values=indicators[indicators["year"] <= edition].reset_index(drop=True),
        files=sorted(label),
    )


# Reference tables are small and everything depends on them: any bad row stops the edition.
ROW_DATASETS = {"trade_records": "trade_records", "indicator_values": "indicator_values"}


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

    Rows of the trade records and indicator values that fail row-level critical checks are
    set aside when they are at most `quality.quarantine_max_share` of their file; the rest
    proceed. Any other critical failure blocks (see `Checked.raise_if_blocked`).
    """
    outcomes = run_suites(inputs)
    share = inputs.method.quality.quarantine_max_share
    frames = _frames(inputs)
    triages = [triage(frames[o.dataset], o, share if o.dataset in ROW_DATASETS else 0.0) for o in outcomes]
    clean = {ROW_DATASETS[t.dataset]: t.clean for t in triages if t.dataset in ROW_DATASETS}
    return Checked(dataclasses.replace(inputs, **clean), outcomes, triages)


def record_validation(catalog: Catalog, run_id: str, checked: Checked) -> dict[str, str]:
    """Data Docs and quarantined rows of this run under `warehouse/runs/<run_id>/`, even when
    the edition is blocked: those are the runs whose reports a data steward needs."""
    folder = catalog.run_dir(run_id)
    specs = {name: load_suite(name, catalog.expectations) for name in {o.dataset for o in checked.outcomes}}
    pairs = [(specs[o.dataset], o.gx_result) for o in checked.outcomes if o.gx_result is not None]
    docs = data_docs.build(pairs, folder / "data_docs", run_id, f"edition-{checked.inputs.edition}")
    paths = {"data_docs": catalog.relative_to_warehouse(docs)}
    # Every check's outcome with the run id (the published edition's copy has none, so that
    # reruns stay byte-identical).
    results = folder / "validation.parquet"
    write_parquet(results_table(checked.outcomes).assign(run_id=run_id), results.with_suffix(".tmp"))
    results.with_suffix(".tmp").replace(results)
    paths["validation"] = catalog.relative_to_warehouse(results)
    quarantine = checked.quarantine
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
    }
    return [validate(frame, dataset, parameters) for dataset, frame in _frames(inputs).items()]


def _frames(inputs: Inputs) -> dict[str, pd.DataFrame]:
    """Each input frame under the name of its GX suite."""
    return {
        "framework": inputs.framework_table,
        "cities": inputs.cities,
        "ceec_members": inputs.members,
        "fx_rates": inputs.fx_rates,
        "national_trade": inputs.national_trade,
        "trade_records": inputs.trade_records,
        "indicator_values": inputs.indicator_values,
    }


def derive_trade(inputs: Inputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean trade facts of the edition year in CNY, and each city's trade figures."""
    national = inputs.national_trade
    if inputs.edition not in set(national["year"]):
        file = national["source_file"].iloc[0] if len(national) else "raw/reference/national_trade.csv"
        raise MissingInputError(
            f"{file}: no national trade for {inputs.edition}, the denominator of city shares"
        )
    records = to_cny(inputs.trade_records, inputs.fx_rates)
    facts = city_trade(
        records,
        inputs.national_trade,
        inputs.cities["city_code"].tolist(),
        inputs.edition,
        inputs.method.trade.import_base_lag,
    )
    columns = ["period", "year", "reporter_city", "partner", "flow", "hs2", "value", "currency",
               "cny_per_unit", "value_cny", "source_file", "source_line"]  # fmt: skip
    this_year = records.loc[records["year"] == inputs.edition, columns]
    this_year = this_year.sort_values(["period", "reporter_city", "partner", "flow", "hs2"])
    return this_year.reset_index(drop=True), facts


def check_derived(inputs: Inputs, records_cny: pd.DataFrame, values: pd.DataFrame) -> list[SuiteOutcome]:
    """Cross-dataset checks that need derived figures; their failures are warnings.

    Reconciliation: the cities' trade, summed from the records, against the national total of
    each year and flow (cities cannot trade more than the country). Coverage: each city's share
    of indicator values against the screening threshold (a city below it is not scored).
    """
    national = inputs.national_trade.set_index(["year", "flow"])
    cities = records_cny.groupby(["year", "flow"])["value_cny"].sum().rename("cities_cny")
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
        validate(reconciliation, "trade_reconciliation", parameters),
        validate(coverage, "indicator_coverage", parameters),
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
