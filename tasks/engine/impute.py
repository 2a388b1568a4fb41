"""Impute: estimate missing indicator values so that a unit is not scored on a hole.

Imputation only ever fills gaps: a value that is present is never changed, whatever the
method (`impute` enforces this itself rather than trusting each method). Methods are small
named functions looked up by name, as COINr's `i_mean`, `i_mean_grp` ...:

- cross-section (units x indicators): `none`, `mean`, `median` over all units; `group_mean`,
  `group_median` within the unit's group (COINr's ASEM example uses the mean within the
  Europe/Asia group); `constant`. A unit without a group label keeps its gaps, as COINr's
  `i_mean_grp` (`skip_f_na = TRUE`) leaves it while it fills the others; `impute_gaps` reports it.
- panel (rows = unit x time): `latest` (last earlier value of the same unit), `interpolate`
  (linear in time between a unit's own observations, never extrapolated), `constant`.
  `max_time` limits how far either reaches, in periods of the panel: `latest` copies a value
  observed at most `max_time` periods earlier (COINr's `impute_panel(max_time = )`), and
  `interpolate` fills only a gap of at most `max_time` periods between two observations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

# (data: units x indicators, groups aligned to data.index or None, value or None) -> candidate fills
Imputer = Callable[[pd.DataFrame, pd.Series | None, float | None], pd.DataFrame]


def i_none(data: pd.DataFrame, groups: pd.Series | None, value: float | None) -> pd.DataFrame:
    return data


def i_mean(data: pd.DataFrame, groups: pd.Series | None, value: float | None) -> pd.DataFrame:
    """Each indicator's mean over the units that have it."""
    return data.fillna(data.mean())


def i_median(data: pd.DataFrame, groups: pd.Series | None, value: float | None) -> pd.DataFrame:
    return data.fillna(data.median())


def _within_groups(statistic: str) -> Imputer:
    def imputer(data: pd.DataFrame, groups: pd.Series | None, value: float | None) -> pd.DataFrame:
        # a group with no value for an indicator gives NaN: the gap stays a gap
        return data.fillna(data.groupby(groups, sort=False).transform(statistic))

    imputer.__name__ = f"i_group_{statistic}"
    imputer.__doc__ = f"The {statistic} of the indicator over the units of the same group."
    return imputer


i_group_mean = _within_groups("mean")
i_group_median = _within_groups("median")


def i_constant(data: pd.DataFrame, groups: pd.Series | None, value: float | None) -> pd.DataFrame:
    return data.fillna(value)


IMPUTERS: dict[str, Imputer] = {
    "none": i_none,
    "mean": i_mean,
    "median": i_median,
    "group_mean": i_group_mean,
    "group_median": i_group_median,
    "constant": i_constant,
}
_GROUPED = {"group_mean", "group_median"}


def _keep_present(data: pd.DataFrame, filled: pd.DataFrame) -> pd.DataFrame:
    """`filled` where `data` is missing, `data` everywhere else (the never-change guarantee)."""
    return data.where(data.notna(), filled).astype("float64")


def impute(
    data: pd.DataFrame, method: str = "none", groups: pd.Series | None = None, value: float | None = None
) -> pd.DataFrame:
    """Fill the missing values of `data` (units x indicators) with `method`; present values stay."""
    if method not in IMPUTERS:
        hint = "; it needs panel data, use impute_panel" if method in PANEL_IMPUTERS else ""
        raise ValueError(f"unknown imputation {method!r}{hint}; known: {sorted(IMPUTERS)}")
    if method == "constant" and value is None:
        raise ValueError("imputation 'constant' needs a value")
    if method in _GROUPED:
        if groups is None:
            raise ValueError(f"imputation {method!r} needs groups (one group per unit)")
        groups = _labels(groups, data.index)
        if groups.isna().all():
            raise ValueError(f"imputation {method!r}: no unit has a group")
    return _keep_present(data, IMPUTERS[method](data, groups, value))


def _labels(groups: pd.Series, index: pd.Index) -> pd.Series:
    """Group labels aligned to `index`; an empty or blank label is no label."""
    groups = groups.reindex(index)
    return groups.where(groups.astype("str").str.strip() != "").where(groups.notna())


GAP_COLUMNS = ["unit", "indicator", "reason"]


def impute_gaps(imputed: pd.DataFrame, method: str, groups: pd.Series | None = None) -> pd.DataFrame:
    """The gaps `method` left in `imputed`, one row per unit and indicator, with the reason.

    `no group`: the unit has no group label; `no value in its group`: no unit of its group has
    the indicator; `no value`: no unit has it (mean, median); `not imputed`: any other method.
    """
    gaps = imputed.isna().stack(future_stack=True)
    gaps = gaps[gaps].index.to_frame(index=False, name=["unit", "indicator"])
    if method in _GROUPED and groups is not None:
        labels = _labels(groups, imputed.index).reindex(gaps["unit"]).to_numpy()
        reason = np.where(pd.isna(labels), "no group", "no value in its group")
    elif method in ("mean", "median"):
        reason = np.full(len(gaps), "no value")
    else:
        reason = np.full(len(gaps), "not imputed")
    return gaps.assign(reason=reason).astype("str")[GAP_COLUMNS]


# panel methods: (values: one unit's rows sorted by time, times of those rows, value) -> candidate fills
PanelImputer = Callable[[pd.DataFrame, np.ndarray, float | None], pd.DataFrame]


def p_none(values: pd.DataFrame, times: np.ndarray, value: float | None) -> pd.DataFrame:
    return values


def p_latest(values: pd.DataFrame, times: np.ndarray, value: float | None) -> pd.DataFrame:
    """Carry the unit's last earlier observation forward; nothing before its first observation."""
    return values.ffill()


def p_interpolate(values: pd.DataFrame, times: np.ndarray, value: float | None) -> pd.DataFrame:
    """Linear in time between the unit's observations; missing outside its first..last observation."""
    out = values.copy()
    x = times.astype("float64")
    for column in values.columns:
        y = values[column].to_numpy(dtype="float64")
        seen = ~np.isnan(y)
        if seen.sum() < 2:
            continue
        inside = (x > x[seen].min()) & (x < x[seen].max())
        out[column] = np.where(inside, np.interp(x, x[seen], y[seen]), y)
    return out


def p_constant(values: pd.DataFrame, times: np.ndarray, value: float | None) -> pd.DataFrame:
    return values.fillna(value)


PANEL_IMPUTERS: dict[str, PanelImputer] = {
    "none": p_none,
    "latest": p_latest,
    "interpolate": p_interpolate,
    "constant": p_constant,
}


def impute_panel(
    panel: pd.DataFrame,
    method: str,
    unit: str = "unit",
    time: str = "year",
    value: float | None = None,
    max_time: int | None = None,
) -> pd.DataFrame:
    """Fill missing indicator values of a long panel (rows = unit x time) unit by unit.

    Every column other than `unit` and `time` is an indicator. Rows may come in any order;
    the result keeps the input's rows, order and index. A (unit, time) pair may occur once.
    `max_time` (for `latest` and `interpolate`; None: no limit) counts periods of the whole
    panel, as COINr does, so a period in which a unit has no row still counts.
    """
    if method not in PANEL_IMPUTERS:
        raise ValueError(f"unknown panel imputation {method!r}; known: {sorted(PANEL_IMPUTERS)}")
    if method == "constant" and value is None:
        raise ValueError("imputation 'constant' needs a value")
    if max_time is not None and (method not in REACH or max_time < 1):
        raise ValueError(f"max_time is a number of periods >= 1 for {sorted(REACH)}, not {method!r}")
    absent = [name for name in (unit, time) if name not in panel.columns]
    if absent:
        raise ValueError(f"panel has no column {absent}; columns: {list(panel.columns)}")
    duplicated = panel.duplicated([unit, time])
    if duplicated.any():
        pairs = panel.loc[duplicated, [unit, time]].drop_duplicates().to_records(index=False).tolist()
        raise ValueError(f"panel has repeated ({unit}, {time}) rows: {pairs}")

    indicators = [c for c in panel.columns if c not in (unit, time)]
    flat = panel.reset_index(drop=True)  # positions, so a repeated or odd index cannot confuse .loc
    values = flat[indicators].astype("float64")
    observed = values.to_numpy()
    filled = observed.copy()
    ordered = flat.iloc[np.argsort(flat[time].to_numpy(), kind="stable")]
    period = np.unique(flat[time].to_numpy(), return_inverse=True)[1].astype("float64")  # 0, 1, ... in order
    imputer = PANEL_IMPUTERS[method]
    for _, rows in ordered.groupby(unit, sort=False):
        at = rows.index.to_numpy()  # positions: `flat` has a RangeIndex
        found = imputer(values.iloc[at], rows[time].to_numpy(), value).to_numpy(dtype="float64", copy=True)
        if max_time is not None:
            found[~REACH[method](observed[at], period[at], max_time)] = np.nan
        filled[at] = found
    filled = pd.DataFrame(filled, index=values.index, columns=values.columns)
    out = panel.copy()
    out[indicators] = _keep_present(values, filled).to_numpy()
    return out


def _observed_around(values: np.ndarray, period: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of one unit's rows (sorted by time): the period of the last observation at or
    before it and of the next at or after it (NaN when there is none)."""
    seen = np.where(np.isnan(values), np.nan, period[:, None])
    frame = pd.DataFrame(seen)
    return frame.ffill().to_numpy(), frame.bfill().to_numpy()


def _latest_reach(values: np.ndarray, period: np.ndarray, max_time: int) -> np.ndarray:
    """Cells `latest` may fill: the last observation is at most `max_time` periods earlier."""
    before, _ = _observed_around(values, period)
    return period[:, None] - before <= max_time


def _interpolate_reach(values: np.ndarray, period: np.ndarray, max_time: int) -> np.ndarray:
    """Cells `interpolate` may fill: in a gap of at most `max_time` periods between observations."""
    before, after = _observed_around(values, period)
    return after - before - 1 <= max_time


# which cells a panel method may fill under `max_time` (one unit's values, their periods, max_time)
REACH: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "latest": _latest_reach,
    "interpolate": _interpolate_reach,
}
