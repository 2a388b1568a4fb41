"""Bring an index of your own: read a framework table and a wide unit table in either format.

COINr users keep their index as `iMeta` (the framework: `iCode, Parent, Level, Weight,
Direction, Type, Denominator`, ...) and `iData` (one row per unit: `uCode`, group and
denominator columns, then one column per indicator). coopindex's own framework table uses
lower-case names (`code, parent, level, weight, direction`, ...). Both are read here into a
`Framework` plus the unit table split into indicators, denominators and groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.engine.framework import Framework
from tasks.engine.normalise import FLAG_WORDS

# COINr's iMeta column -> ours. Optional per-indicator settings keep their (lower-case) names.
COINR_FRAMEWORK = {
    "iCode": "code",
    "iName": "name",
    "Parent": "parent",
    "Level": "level",
    "Weight": "weight",
    "Direction": "direction",
    "Unit": "unit",
    "Target": "target",
    "Denominator": "denominator",
    "Type": "type",
}
# COINr's per-indicator parameters of `n_goalposts` and `n_dist2targ` in iMeta (what
# `Normalise(global_specs = list(f_n = ..., f_n_para = "use_iMeta"))` reads) -> our settings.
COINR_SETTINGS = {
    "goalpost_lower": "goalpost_low",
    "goalpost_upper": "goalpost_high",
    "goalpost_scale": "goalpost_scale",
    "dist2targ_cap_max": "target_cap",
}
NODE_TYPES = {"Indicator", "Aggregate"}
NUMERIC_SETTINGS = ("goalpost_low", "goalpost_high", "goalpost_scale", "target")  # empty: the default
TIME_COLUMNS = ("Time", "time")  # COINr's purse: one row per unit and period


@dataclass(frozen=True)
class UnitTable:
    """A wide unit table split by role; every frame is indexed by unit code, or by (unit, time)
    when the table is a panel (`time` names its time column)."""

    indicators: pd.DataFrame
    denominators: pd.DataFrame
    groups: pd.DataFrame
    names: pd.Series  # by unit code, once per unit
    time: str | None = None


class FormatError(ValueError):
    """A framework or unit table that neither format can read; names the file and what is wrong."""


def read_framework(path: Path) -> tuple[Framework, pd.DataFrame]:
    """The framework and its per-indicator settings (`normalise`, goalposts, `denominator` ...)."""
    table = pd.read_csv(path)
    if "iCode" in table.columns:
        table = table.rename(columns=COINR_FRAMEWORK)
        table.columns = [c.lower() if c not in COINR_FRAMEWORK.values() else c for c in table.columns]
        if "type" in table.columns:
            table = table[table["type"].isin(NODE_TYPES)]
        table = _coinr_settings(table, path)
    required = ["code", "parent", "level", "weight", "direction"]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise FormatError(
            f"{path}: missing framework columns {missing} (or COINr's iCode, Parent, Level, ...)"
        )
    table = table.astype({"level": "int64", "weight": "float64", "direction": "int64"})
    table["code"] = table["code"].astype("str")
    for column in NUMERIC_SETTINGS:
        if column in table.columns:
            table[column] = _numbers(table, column, path)
    framework = Framework.from_table(table, label=str(path))
    return framework, framework.settings()


def _coinr_settings(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """COINr's goalposts, goalpost scale and target cap as our settings; `goalpost_trunc2posts`
    TRUE or FALSE is `goalpost_cap` `both` or `none`."""
    table = table.rename(columns={k: v for k, v in COINR_SETTINGS.items() if v not in table.columns})
    if "goalpost_trunc2posts" in table.columns and "goalpost_cap" not in table.columns:
        cells = table.pop("goalpost_trunc2posts")
        flags = cells.astype("str").str.strip().str.lower().map(FLAG_WORDS)
        bad = flags.isna() & cells.notna()
        if bad.any():
            row = bad.idxmax()
            raise FormatError(
                f"{path}, line {row + 2}: indicator {table.at[row, 'code']!r}: goalpost_trunc2posts "
                f"{cells[row]!r} is not TRUE or FALSE"
            )
        table["goalpost_cap"] = flags.map({True: "both", False: "none"})
    return table


def _numbers(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A settings column as numbers; a cell such as `log10(901)` names its line, indicator and column."""
    text = table[column].astype("str").str.strip().where(table[column].notna(), "")
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = (numbers.isna() & (text != "")) | ~np.isfinite(numbers.fillna(0.0))
    if bad.any():
        row = bad.idxmax()  # the index of pd.read_csv: data line - 2, kept by the Type filter
        raise FormatError(
            f"{path}, line {row + 2}: indicator {table.at[row, 'code']!r}: {column} "
            f"{table.at[row, column]!r} is not a number"
        )
    return numbers.astype("float64")


def read_units(path: Path, framework: Framework, settings: pd.DataFrame) -> UnitTable:
    """Split a wide unit table into indicators, the denominators they name, and group columns."""
    table = pd.read_csv(path)
    unit = next((c for c in ("uCode", "unit", "code", "city_code") if c in table.columns), None)
    if unit is None:
        raise FormatError(f"{path}: no unit code column (uCode, unit, code or city_code)")
    time = next((c for c in TIME_COLUMNS if c in table.columns), None)
    if time is not None and table[time].nunique(dropna=False) < 2:
        time = None  # one period is a cross-section, as COINr's new_coin takes it; a purse needs more
    keys = [unit] if time is None else [unit, time]
    repeated = table.duplicated(keys)
    if repeated.any():
        what = "unit codes" if time is None else f"(unit, {time}) rows"
        raise FormatError(f"{path}: duplicate {what} {sorted(map(str, table.loc[repeated, unit]))}")
    codes = table[unit].astype("str").rename("unit")
    if time is None:
        table = table.set_index(codes)
    else:
        periods = pd.to_numeric(table[time], errors="coerce")
        if periods.isna().any():
            raise FormatError(f"{path}: {time} {table.loc[periods.isna(), time].iloc[0]!r} is not a number")
        table = table.set_index([codes, periods.rename(time)])
    missing = [c for c in framework.indicators if c not in table.columns]
    if missing:
        raise FormatError(f"{path}: indicator columns missing for framework codes {missing}")
    named = settings["denominator"].dropna().astype("str") if "denominator" in settings else pd.Series()
    wanted = sorted({d for d in named if d})
    absent = [d for d in wanted if d not in table.columns]
    if absent:
        raise FormatError(f"{path}: denominator columns {absent} named by the framework are missing")
    groups = [c for c in table.columns if c.endswith("_group") or c.startswith("Group_")]
    name = next((c for c in ("uName", "name", "name_en") if c in table.columns), None)
    codes = table.index.get_level_values("unit")
    first = table[~codes.duplicated()].set_axis(codes[~codes.duplicated()], axis=0)
    return UnitTable(
        indicators=table[framework.indicators].astype("float64"),
        denominators=table[wanted].astype("float64"),
        groups=table[groups],
        names=first[name].astype("str") if name else pd.Series(first.index, index=first.index),
        time=time,
    )
