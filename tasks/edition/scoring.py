"""Derive an edition's trade figures and indicator values, and score them with the engine."""

from __future__ import annotations

import pandas as pd

from tasks.edition.errors import MissingInputError
from tasks.edition.read import Inputs
from tasks.engine.analysis import analyse, audit
from tasks.engine.index import IndexStages, compute_index, wide_values
from tasks.trade.figures import city_trade, city_year, trade_indicators


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
    """Every stage of the index, from the indicator values to the aggregated scores."""
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
    """Contributions, strengths and weaknesses, the method's uncertainty analysis, and COINr's
    structure checks: PCA of each dimension's indicators, leave-one-out rank shifts (per city
    in long form, one row per city and removed element, as the warehouse keeps its tables)."""
    framework = inputs.framework
    analysis = analyse(
        stages,
        framework,
        inputs.method,
        unit="city_code",
        settings=framework.settings(),
        history=history(inputs),
    )
    checks = audit(stages, framework, inputs.method, unit="city_code", correlations=False)
    per_city = checks.pop("leave_one_out_units").melt(
        id_vars=["city_code", "nominal_rank"], var_name="removed", value_name="rank_change"
    )
    return analysis | checks | {"leave_one_out_cities": per_city}
