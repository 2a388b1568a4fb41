"""The index method end to end, one verb per step, every stage kept side by side.

raw -> denominated -> screened -> imputed -> treated -> normalised -> aggregated, as COINr
keeps `Raw`, `Denominated`, `Imputed`, `Treated`, `Normalised`, `Aggregated`, so a user can
see what each step did. By default units are screened on the availability of their own data,
before imputation fills gaps, so that imputed values never decide who is scored; COINr's
ASEM example screens the imputed data instead (`screen: {after: impute}`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from tasks.engine.aggregate import aggregate_with_report, framework_means
from tasks.engine.denominate import denominate
from tasks.engine.framework import Framework
from tasks.engine.impute import impute, impute_gaps, impute_panel
from tasks.engine.method import Method, MethodError
from tasks.engine.normalise import normalise
from tasks.engine.results import score_table
from tasks.engine.screen import ScreenResult, screen
from tasks.engine.treat import TreatResult, treat
from tasks.engine.weight import WEIGHTERS

STAGES = ("raw", "denominated", "screened", "imputed", "treated", "normalised", "aggregated")
PREPARED = STAGES[1:5]  # the stages `Prepared` adds to the raw table
PANEL_IMPUTATION = {"latest", "interpolate"}


@dataclass(frozen=True)
class IndexStages:
    raw: pd.DataFrame  # units x indicators, as given
    denominated: pd.DataFrame
    screened: pd.DataFrame  # the units kept
    imputed: pd.DataFrame
    treated: pd.DataFrame
    normalised: pd.DataFrame
    aggregated: pd.DataFrame  # units x aggregate nodes (dimensions ..., index)
    scores: pd.DataFrame  # long: unit, node, level, parent, raw_value, score, rank, weight_in_index
    weights: pd.Series  # weight of every node relative to its parent, as used
    reports: dict[str, pd.DataFrame] = field(default_factory=dict)  # screening, treatment
    # imputation (gaps left), aggregation (nodes removed): written by `coopindex score`, not
    # (yet) published with an edition, whose datasets are a contract of their own
    diagnostics: dict[str, pd.DataFrame] = field(default_factory=dict)

    def stage(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


def wide_values(
    values: pd.DataFrame, framework: Framework, units: list[str], unit: str = "city_code"
) -> pd.DataFrame:
    """Units x indicators from long `(unit, indicator, value)` rows; absent values are missing."""
    wide = values.pivot(index=unit, columns="indicator", values="value")
    wide = wide.reindex(index=pd.Index(units, name=unit), columns=framework.indicators)
    return wide.astype("float64")


@dataclass(frozen=True)
class Prepared:
    """The stages up to the outlier treatment: what normalisation starts from."""

    raw: pd.DataFrame
    denominated: pd.DataFrame
    screening: ScreenResult
    imputed: pd.DataFrame
    treatment: TreatResult
    groups: pd.DataFrame | None = None

    @property
    def screened(self) -> pd.DataFrame:
        return self.screening.data

    @property
    def treated(self) -> pd.DataFrame:
        return self.treatment.data


def compute_index(
    raw: pd.DataFrame,
    framework: Framework,
    method: Method,
    *,
    denominators: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    settings: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    on_prepared: Callable[[Prepared], object] | None = None,
) -> IndexStages:
    """Run every step of `method` on `raw` (units x indicators).

    `denominators` and `groups` are extra unit columns (GDP, population ...; region ...);
    `settings` holds per-indicator settings from the framework table (`denominator`,
    `normalise`, goalposts, `transform`, `treat`, `aggregate` ...), indexed by indicator code.
    `history` holds earlier years' (denominated) values, indexed by (unit, year), for the
    panel imputations `latest` and `interpolate`. `on_prepared` is called with the stages up to
    the treatment as soon as they exist (`coopindex score` writes them while the rest runs).
    """
    settings = settings if settings is not None else pd.DataFrame(index=framework.indicators)
    prepared = prepare_index(
        raw, framework, method, denominators=denominators, groups=groups, settings=settings, history=history
    )
    if on_prepared is not None:
        on_prepared(prepared)
    normalised = normalise_treated(prepared.treated, framework, method, settings)
    return finish_index(prepared, normalised, framework, method)


def prepare_index(
    raw: pd.DataFrame,
    framework: Framework,
    method: Method,
    *,
    denominators: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    settings: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    filled: pd.DataFrame | None = None,
) -> Prepared:
    """Denominate, screen, impute and treat; `compute_index`'s arguments.

    `filled` (units x indicators), when given, is what a panel imputation puts in this
    table's gaps: the panel was imputed as a whole from each unit's other periods.
    """
    settings = settings if settings is not None else pd.DataFrame(index=framework.indicators)
    denominated = _denominate(raw, method, denominators, settings)
    if method.screen.after == "impute":
        screening = _screen(_impute(denominated, method, groups, history, filled), method)
        imputed = screening.data
    else:
        screening = _screen(denominated, method)
        imputed = _impute(screening.data, method, groups, history, filled)
    treatment = treat(
        imputed,
        method.treat.method,
        method.treat.skew_max,
        method.treat.kurtosis_max,
        method.treat.max_points,
        method.treat.fallback,
        overrides=_by_indicator(settings, "treat") | method.treat.overrides,
    )
    return Prepared(raw, denominated, screening, imputed, treatment, groups)


def normalise_treated(
    treated: pd.DataFrame, framework: Framework, method: Method, settings: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The normalise step on treated values (one period, or several pooled)."""
    return normalise(
        treated,
        framework.column("direction"),
        method.normalise.method,
        method.normalise.range,
        settings=settings,
        ties=method.normalise.ties,
        goalpost_cap=method.normalise.goalpost_cap,
        target_cap=method.normalise.target_cap,
    )


def finish_index(
    prepared: Prepared,
    normalised: pd.DataFrame,
    framework: Framework,
    method: Method,
    weights: pd.Series | None = None,
) -> IndexStages:
    """Weight, aggregate and rank `normalised`; `weights` (relative, by code) replace the weighting step."""
    if weights is None:
        weights = WEIGHTERS[method.weight.method](normalised, framework)
    aggregated, removed = aggregate_with_report(
        normalised,
        framework,
        method.aggregate.method,
        method.aggregate.min_share,
        by_level=method.aggregate.by_level,
        by_node=framework_means(framework) | method.aggregate.by_node,
        weights=weights,
        power=method.aggregate.power,
        offset=method.aggregate.offset,
        nonpositive=method.aggregate.nonpositive,
    )
    raw = prepared.raw
    scores = score_table(
        raw.loc[normalised.index], normalised, aggregated, framework, framework.effective_weights(weights)
    )
    return IndexStages(
        raw=raw,
        denominated=prepared.denominated,
        screened=prepared.screened,
        imputed=prepared.imputed,
        treated=prepared.treated,
        normalised=normalised,
        aggregated=aggregated,
        scores=scores,
        weights=weights,
        reports={"screening": prepared.screening.report, "treatment": prepared.treatment.report},
        diagnostics={"imputation": _gaps(prepared.imputed, method, prepared.groups), "aggregation": removed},
    )


def _denominate(
    raw: pd.DataFrame, method: Method, denominators: pd.DataFrame | None, settings: pd.DataFrame
) -> pd.DataFrame:
    by = _by_indicator(settings, "denominator")
    if not method.denominate.enabled or not by:
        return raw
    if denominators is None:
        raise MethodError(
            f"the framework names denominators {sorted(set(by.values()))} but the data has no such columns"
        )
    return denominate(raw, denominators.loc[raw.index], by, method.denominate.scale)


def _screen(data: pd.DataFrame, method: Method) -> ScreenResult:
    return screen(data, method.screen.min_availability, method.screen.include, method.screen.exclude)


def _group(data: pd.DataFrame, method: Method, groups: pd.DataFrame | None) -> pd.Series | None:
    name = method.impute.group
    if not name:
        return None
    if groups is None or name not in groups.columns:
        raise MethodError(f"imputation group column {name!r} is not in the unit table")
    return groups.loc[data.index, name]


def _gaps(imputed: pd.DataFrame, method: Method, groups: pd.DataFrame | None) -> pd.DataFrame:
    if method.impute.method == "none":
        return impute_gaps(imputed.iloc[:0], method.impute.method)
    return impute_gaps(imputed, method.impute.method, _group(imputed, method, groups))


def _impute(
    data: pd.DataFrame,
    method: Method,
    groups: pd.DataFrame | None,
    history: pd.DataFrame | None,
    filled: pd.DataFrame | None = None,
) -> pd.DataFrame:
    settings = method.impute
    if settings.method in PANEL_IMPUTATION:
        if filled is not None:
            return data.fillna(filled.reindex(index=data.index, columns=data.columns))
        if history is None:
            raise MethodError(f"imputation {settings.method!r} needs earlier years' values (history)")
        return _impute_from_history(data, settings.method, history, settings.max_time)
    return impute(data, settings.method, groups=_group(data, method, groups), value=settings.value)


def _impute_from_history(
    data: pd.DataFrame, method: str, history: pd.DataFrame, max_time: int | None = None
) -> pd.DataFrame:
    """This year's values filled from the unit's own earlier years (the panel imputations)."""
    earlier = history.reindex(columns=data.columns).rename_axis(["unit", "year"]).reset_index()
    current = int(earlier["year"].max()) + 1 if len(earlier) else 0
    now = data.rename_axis("unit").reset_index().assign(year=current)
    panel = impute_panel(
        pd.concat([earlier, now], ignore_index=True), method, unit="unit", time="year", max_time=max_time
    )
    filled = panel[panel["year"] == current].set_index("unit")[data.columns]
    return filled.rename_axis(data.index.name).loc[data.index]


def _by_indicator(settings: pd.DataFrame, column: str) -> dict[str, str]:
    """Non-empty per-indicator values of one settings column."""
    if column not in settings.columns:
        return {}
    values = settings[column].dropna().astype("str")
    return {code: value for code, value in values.items() if value.strip()}
