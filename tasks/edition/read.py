"""Read an edition's inputs: bring the trade store up to date, then load every table it needs.

An edition scores data year N. It reads the reference tables, the framework and method, the
indicator values up to year N (earlier years feed the panel imputations) and the trade of the
years its trade indicators need (`tasks.edition.inputs.trade_years`). Raw trade files are never
loaded: `refresh_trade` brings the clean trade store up to date (new or changed files only,
in bounded memory, `tasks.trade.ingest`), and the edition reads its aggregates, checks and
quarantined rows (`tasks.trade.store`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from tasks.edition.errors import MissingInputError
from tasks.edition.inputs import trade_years
from tasks.engine.framework import Framework
from tasks.engine.method import Method, read_method
from tasks.quality import load
from tasks.trade.ingest import BlockedFilesError, IngestReport, update_store
from tasks.trade.references import InvalidReferencesError
from tasks.trade.store import TradeView, view
from tasks.warehouse.catalog import Catalog


@dataclass
class TradeRefresh:
    """What the ingest did for an edition: its report, or the trade files it refused."""

    report: IngestReport | None = None  # None: nothing to report (a reference table failed its checks)
    blocked: BlockedFilesError | None = None


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


def refresh_trade(catalog: Catalog, edition: int) -> TradeRefresh:
    """Bring the trade store up to date for the edition's trade years (new or changed files only).

    One file at a time in this process: the monthly refresh (`coopindex ingest`, or its
    deployment) is where many files run in parallel; an edition usually finds nothing to do.
    Refused trade files are returned, not raised, so that the run's report can show them.
    """
    method = read_method(required(catalog.method))
    if not catalog.trade_files(edition):
        folder = catalog.relative(catalog.trade_folder(edition))
        raise MissingInputError(f"no trade records for {edition}: expected {folder}/{edition}-MM.csv")
    years = [y for y in trade_years(edition, method) if catalog.trade_files(y)]
    try:
        return TradeRefresh(report=update_store(catalog, years, workers=1))
    except InvalidReferencesError:  # the reference tables' own checks report it, and block
        return TradeRefresh()
    except BlockedFilesError as exc:
        return TradeRefresh(blocked=exc)


def load_inputs(catalog: Catalog, edition: int) -> Inputs:
    """Read every input of `edition` (the trade from the store); trade years before the first
    on file are simply absent."""
    method = read_method(required(catalog.method))
    label = {p: catalog.relative(p) for p in catalog.edition_files(edition, trade_years(edition, method))}
    load.check_folder(catalog.indicators, catalog.relative(catalog.indicators))
    load.check_inside(
        [p for p in [*label, *catalog.indicator_files()] if p.is_relative_to(catalog.raw)], catalog.raw
    )

    def read(path: Path, columns: dict[str, str]) -> pd.DataFrame:
        return load.read_csv(required(path), columns, label.get(path))

    indicator_files = catalog.indicator_files()
    if not indicator_files:
        raise MissingInputError(f"no indicator files in {catalog.relative(catalog.indicators)}/")
    indicators = load.read_many(indicator_files, load.INDICATOR_VALUES, label)
    return Inputs(
        edition=edition,
        method=method,
        framework_table=load.read_csv(
            required(catalog.framework),
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
        files=sorted(label),
    )


def required(path: Path) -> Path:
    if not path.is_file():
        raise MissingInputError(f"missing input file: {path}")
    return path
