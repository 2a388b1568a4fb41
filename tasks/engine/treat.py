"""Treat outliers: tame the few extreme values that would otherwise decide a min-max scale.

COINr's default (`Treat` with `winsorise`, `log_CT` and `check_SkewKurt`), per indicator:

1. An indicator fails when |skew| >= skew_max AND excess kurtosis >= kurtosis_max (the
   bias-corrected sample statistics, pandas' `Series.skew()` / `.kurt()`, equal to COINr's
   `skew` / `kurt`); otherwise it is left alone.
2. A failing indicator is winsorised one step at a time: if skew >= 0 the point(s) at the
   maximum take the next-highest value, else the point(s) at the minimum the next-lowest;
   then the check is repeated. It stops when the indicator passes or once `max_points` points
   have been changed. Points are counted as COINr does: every point moved counts, tied
   points each count, and a step may overshoot `max_points` when it moves a tie.
3. If it still fails, the fallback: `log` = log(x - min + 0.01 * (max - min)) on the
   original values (COINr's `log_CT`), `none` = keep the winsorised values.

Treatments are small named functions looked up by name; `overrides` choose one per indicator
(`log` applies the log transform directly). Missing values stay missing and are ignored by
the statistics; an indicator too short for them (< 4 values) is never judged an outlier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TreatResult:
    data: pd.DataFrame
    report: pd.DataFrame  # one row per indicator, see REPORT_COLUMNS


REPORT_COLUMNS = [
    "indicator", "skew_before", "kurtosis_before", "treated", "method", "points_changed",
    "low_winsorised", "high_winsorised", "skew_after", "kurtosis_after",
]  # fmt: skip


@dataclass(frozen=True)
class Limits:
    skew_max: float = 2.0
    kurtosis_max: float = 3.5
    max_points: int = 5
    fallback: str = "log"


def passes(values: pd.Series, limits: Limits) -> bool:
    """COINr's `check_SkewKurt`: fine unless both |skew| and kurtosis reach their limits."""
    skew, kurtosis = values.skew(), values.kurt()
    if np.isnan(skew) or np.isnan(kurtosis):  # too few points (or no spread) to call anything an outlier
        return True
    return bool(abs(skew) < limits.skew_max or kurtosis < limits.kurtosis_max)


@dataclass
class Treated:
    values: pd.Series
    method: str
    low: set = field(default_factory=set)  # positions winsorised at the bottom
    high: set = field(default_factory=set)  # ... at the top


def log_ct(values: pd.Series) -> pd.Series:
    """COINr's `log_CT`: log(x - min + 0.01 * (max - min)); no spread -> missing (as n_minmax)."""
    low, high = values.min(), values.max()
    if not high > low:
        return pd.Series(np.nan, index=values.index, dtype="float64")
    return np.log(values - low + 0.01 * (high - low))


def winsorise_steps(values: pd.Series, limits: Limits) -> Treated:
    """COINr's `winsorise`, without its fallback: step by step until it passes or max_points."""
    x = values.to_numpy(dtype="float64", copy=True)
    result = Treated(values, "winsorise")
    present = ~np.isnan(x)
    while not passes(pd.Series(x), limits) and len(result.low | result.high) < limits.max_points:
        top = pd.Series(x).skew() >= 0
        extreme = np.nanmax(x) if top else np.nanmin(x)
        at_extreme = present & (x == extreme)
        rest = x[present & ~at_extreme]
        if rest.size == 0:  # everything at one value: nothing left to move towards
            break
        x[at_extreme] = rest.max() if top else rest.min()
        (result.high if top else result.low).update(np.flatnonzero(at_extreme).tolist())
    result.values = pd.Series(x, index=values.index, name=values.name)
    return result


def t_none(values: pd.Series, limits: Limits) -> Treated:
    return Treated(values, "none")


def t_log(values: pd.Series, limits: Limits) -> Treated:
    return Treated(log_ct(values), "log")


def t_winsorise(values: pd.Series, limits: Limits) -> Treated:
    """The full default: check, winsorise, then the fallback if winsorising was not enough."""
    if passes(values, limits):
        return Treated(values, "none")
    result = winsorise_steps(values, limits)
    if passes(result.values, limits):
        return result
    return FALLBACKS[limits.fallback](values, result)


Treatment = Callable[[pd.Series, Limits], Treated]
TREATMENTS: dict[str, Treatment] = {"none": t_none, "winsorise": t_winsorise, "log": t_log}

# (original values, the winsorised attempt that still fails) -> what to keep
FALLBACKS: dict[str, Callable[[pd.Series, Treated], Treated]] = {
    "log": lambda original, attempt: Treated(log_ct(original), "log"),
    "none": lambda original, attempt: attempt,
}


def _check(name: str, kind: str, known: Mapping) -> None:
    if name not in known:
        raise ValueError(f"unknown {kind} {name!r}; known: {sorted(known)}")


def treat(
    data: pd.DataFrame,
    method: str = "winsorise",
    skew_max: float = 2.0,
    kurtosis_max: float = 3.5,
    max_points: int = 5,
    fallback: str = "log",
    overrides: Mapping[str, str] | None = None,
) -> TreatResult:
    """Treat every indicator (column) of `data` (units x indicators) with `method` or its override.

    `overrides` (indicator -> treatment) replace `method` for those indicators, also when
    `method` is "none".
    """
    overrides = dict(overrides or {})
    _check(method, "treatment", TREATMENTS)
    _check(fallback, "fallback", FALLBACKS)
    for code, name in overrides.items():
        _check(name, f"treatment for {code!r}", TREATMENTS)
    unknown = sorted(set(overrides) - set(data.columns))
    if unknown:
        raise ValueError(f"treatment overrides for indicators not in the data: {unknown}")
    limits = Limits(skew_max, kurtosis_max, max_points, fallback)

    out = data.astype("float64")
    rows = []
    for code in data.columns:
        before = out[code]
        result = TREATMENTS[overrides.get(code, method)](before, limits)
        after = result.values
        out[code] = after
        changed = ~(before.eq(after) | (before.isna() & after.isna()))
        rows.append(
            (code, before.skew(), before.kurt(), result.method != "none", result.method, int(changed.sum()),
             len(result.low), len(result.high), after.skew(), after.kurt())
        )  # fmt: skip
    return TreatResult(data=out, report=pd.DataFrame(rows, columns=REPORT_COLUMNS))
