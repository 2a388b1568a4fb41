"""Panel data: one index over many periods, as COINr's purse (one coin per `Time`).

Each period is screened, imputed, treated, aggregated and ranked on its own, so that the
ranks restart in every period. Two steps look across periods:

- normalisation, with `normalise.panel`: `pooled` (COINr's `Normalise.purse` default,
  `global = TRUE`) puts every period on one scale, so that a score can be compared over
  time; `period` normalises each period alone, as a coin of its own.
- the panel imputations `latest` and `interpolate` fill a gap from the unit's other periods
  (COINr's `impute_panel`), over the whole panel at once.

The weights are one set for every period (`pca` on the normalised data of all periods), so
that the index means the same thing in each. Frames come back indexed by (unit, time).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from tasks.engine.denominate import denominate
from tasks.engine.framework import Framework
from tasks.engine.impute import impute_panel
from tasks.engine.index import (
    PANEL_IMPUTATION,
    STAGES,
    IndexStages,
    Prepared,
    finish_index,
    normalise_treated,
    prepare_index,
)
from tasks.engine.method import Method, MethodError
from tasks.engine.weight import WEIGHTERS

PANEL_POOLING = ("pooled", "period")


def periods_of(frame: pd.DataFrame, time: str) -> list:
    """The distinct periods of a (unit, time)-indexed frame, in order."""
    return sorted(frame.index.get_level_values(time).unique())


def compute_panel(
    raw: pd.DataFrame,
    framework: Framework,
    method: Method,
    *,
    time: str = "Time",
    denominators: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    settings: pd.DataFrame | None = None,
) -> IndexStages:
    """Every step of `method` on `raw`, indexed by (unit, `time`), period by period.

    `denominators` and `groups` are indexed as `raw`; `settings` as for `compute_index`.
    """
    settings = settings if settings is not None else pd.DataFrame(index=framework.indicators)
    pooled = method.normalise.panel == "pooled"
    if pooled and _uses_reference(method, settings):
        raise MethodError("dist_reference compares units within one period: use normalise.panel 'period'")
    units = set(raw.index.get_level_values("unit"))
    for key in ("include", "exclude"):
        unknown = sorted(set(getattr(method.screen, key)) - units)
        if unknown:
            raise ValueError(f"screen: unknown unit codes to {key}: {unknown}")
    filled = _panel_filled(raw, method, time, denominators, settings)
    prepared: dict[object, Prepared] = {}
    for period in periods_of(raw, time):
        rows = raw.xs(period, level=time)
        present = set(rows.index)
        screen = method.screen.model_copy(
            update={k: [u for u in getattr(method.screen, k) if u in present] for k in ("include", "exclude")}
        )
        prepared[period] = prepare_index(
            rows,
            framework,
            method.model_copy(update={"screen": screen}),
            denominators=_at(denominators, period, time),
            groups=_at(groups, period, time),
            settings=settings,
            filled=_at(filled, period, time),
        )
    if pooled:
        treated = pd.concat({p: s.treated for p, s in prepared.items()}, names=[time])
        together = normalise_treated(treated, framework, method, settings)
        normalised = {p: together.xs(p, level=time) for p in prepared}
    else:
        normalised = {p: normalise_treated(s.treated, framework, method, settings)
                      for p, s in prepared.items()}  # fmt: skip
    weights = WEIGHTERS[method.weight.method](pd.concat(normalised.values()), framework)
    stages = {p: finish_index(prepared[p], normalised[p], framework, method, weights) for p in prepared}
    return stack_periods(stages, time)


def _uses_reference(method: Method, settings: pd.DataFrame) -> bool:
    named = settings["normalise"].dropna().astype("str").tolist() if "normalise" in settings else []
    return "dist_reference" in [method.normalise.method, *named]


def _at(frame: pd.DataFrame | None, period: object, time: str) -> pd.DataFrame | None:
    return None if frame is None else frame.xs(period, level=time)


def _panel_filled(
    raw: pd.DataFrame,
    method: Method,
    time: str,
    denominators: pd.DataFrame | None,
    settings: pd.DataFrame,
) -> pd.DataFrame | None:
    """The whole panel imputed from each unit's other periods (denominated first), or None."""
    if method.impute.method not in PANEL_IMPUTATION:
        return None
    values = raw
    by = {} if "denominator" not in settings else settings["denominator"].dropna().astype("str").to_dict()
    by = {code: column for code, column in by.items() if column.strip()}
    if method.denominate.enabled and by and denominators is not None:
        values = denominate(raw, denominators, by, method.denominate.scale)
    long = values.reset_index()
    filled = impute_panel(long, method.impute.method, unit="unit", time=time, max_time=method.impute.max_time)
    return filled.set_index(["unit", time])[raw.columns]


def stack_periods(stages: dict[object, IndexStages], time: str) -> IndexStages:
    """Per-period stages as one: frames indexed by (unit, `time`), tables with a `time` column."""
    first = next(iter(stages.values()))

    def frames(name: str) -> pd.DataFrame:
        parts = {p: s.stage(name) for p, s in stages.items()}
        return pd.concat(parts, names=[time]).reorder_levels([1, 0]).rename_axis(["unit", time])

    def tables(get: Callable[[IndexStages], pd.DataFrame]) -> pd.DataFrame:
        parts = []
        for period, s in stages.items():
            table = get(s).copy()
            table.insert(1 if table.columns[0] == "unit" else 0, time, period)
            parts.append(table)
        return pd.concat(parts, ignore_index=True)

    kept = {name: frames(name) for name in STAGES}
    return IndexStages(
        **kept,
        scores=tables(lambda s: s.scores),
        weights=first.weights,
        reports={name: tables(lambda s, n=name: s.reports[n]) for name in first.reports},
        diagnostics={name: tables(lambda s, n=name: s.diagnostics[n]) for name in first.diagnostics},
    )
