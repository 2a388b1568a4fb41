"""Normalise: bring indicators of different units onto one scale, higher always better.

Methods are small named functions looked up from the method file (as COINr's `n_minmax`),
each taking one indicator's values (already transformed and multiplied by its direction),
the target range `scale = (low, high)` and the indicator's own settings as keywords, and
returning the normalised values. Missing values stay missing.

| name | formula (x = value after transform and direction) |
| --- | --- |
| `minmax` | `low + (x - min) / (max - min) * (high - low)`; no spread -> missing |
| `zscore` | `(x - mean) / sd`, sample sd (ddof 1, as pandas `.std()`); `scale` is ignored |
| `goalposts` | `low + (clip(x, gl, gh) - gl) / (gh - gl) * (high - low)`, goalposts `gl < gh` |
| `rank` | rank among the units, ties get the average rank, the highest value the highest rank |
| `percentile` | `rank / count * 100` (pandas `rank(pct=True) * 100`), ties averaged |
| `dist_max` | `high - (max - x) / (max - min) * (high - low)`: the distance to the best unit |
| `dist_target` | `min(1, 1 - (target - x) / (target - min)) * high` (`min` over the units) |
| `dist_reference` | `x / x[reference unit] * 100` (direction -1: `x[reference] / x * 100`) |
| `none` | the values as they are (already scores; neither transform nor direction applied) |

`dist_max` is algebraically min-max, written as COINr's `n_dist2max` (the distance to the
frontier); `dist_target` is COINr's `n_dist2targ` with the cap, scaled by the range's upper
bound only (a unit at the minimum scores 0 whatever `low` is); `dist_reference` is a
percentage of the reference unit and is not confined to the range.

Direction -1 negates the values before normalisation, so a lower raw value scores higher;
goalposts and targets are negated with them (the goalposts swap: raw `[gl, gh]` becomes
`[-gh, -gl]`), so a raw value at the lower goalpost scores `high`. For `dist_reference` the
ratio of negated values would be unchanged, so direction -1 inverts the ratio instead.

Per-indicator settings come from an optional `settings` table indexed by indicator code,
with optional columns `normalise` (method; empty = the default `method`), `goalpost_low`,
`goalpost_high`, `transform` (`""`, `"ln"`, `"log10"`: applied first, before the direction,
to the values and to the indicator's goalposts or target, whatever the method but `none`),
`target` (raw units) and `reference` (a unit code of `data`'s index; the keyword
`reference` gives one for every indicator without its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

# (values after transform and direction, (low, high), **indicator settings) -> normalised values
Normaliser = Callable[..., pd.Series]


def _missing(values: pd.Series) -> pd.Series:
    return pd.Series(np.nan, index=values.index, dtype="float64")


def n_minmax(values: pd.Series, scale: tuple[float, float], **_: Any) -> pd.Series:
    """Min-max to [low, high]; an indicator with no spread carries no information (missing)."""
    low, high = scale
    spread = values.max() - values.min()
    if not np.isfinite(spread) or spread == 0:
        return _missing(values)
    return (values - values.min()) / spread * (high - low) + low


def n_zscore(values: pd.Series, scale: tuple[float, float], **_: Any) -> pd.Series:
    """(x - mean) / sd with the sample sd (ddof 1); `scale` is ignored; no spread -> missing."""
    sd = values.std()
    if not np.isfinite(sd) or sd == 0:
        return _missing(values)
    return (values - values.mean()) / sd


def n_goalposts(
    values: pd.Series, scale: tuple[float, float], *, goalposts: tuple[float, float], **_: Any
) -> pd.Series:
    """Fixed goalposts (lower, upper) mapped to [low, high]; values beyond them are capped."""
    low, high = scale
    lower, upper = goalposts
    return (values.clip(lower, upper) - lower) / (upper - lower) * (high - low) + low


def n_rank(values: pd.Series, scale: tuple[float, float], **_: Any) -> pd.Series:
    """Rank of the value (1 = lowest, ties averaged): the highest value gets the highest rank."""
    return values.rank(method="average", ascending=True, na_option="keep")


def n_percentile(values: pd.Series, scale: tuple[float, float], **_: Any) -> pd.Series:
    """Percentile rank 0-100: average rank / number of units with a value * 100."""
    return values.rank(method="average", ascending=True, na_option="keep", pct=True) * 100


def n_dist_max(values: pd.Series, scale: tuple[float, float], **_: Any) -> pd.Series:
    """high - (max - x) / (max - min) * (high - low): the best unit scores `high`; no spread -> missing."""
    low, high = scale
    spread = values.max() - values.min()
    if not np.isfinite(spread) or spread == 0:
        return _missing(values)
    return high - (values.max() - values) / spread * (high - low)


def n_dist_target(values: pd.Series, scale: tuple[float, float], *, target: float, **_: Any) -> pd.Series:
    """(1 - (target - x) / (target - min)) * high, capped at `high` for units at or past the target."""
    high = scale[1]
    reached = values >= target
    lowest = values.min()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 1 - (target - values) / (target - lowest)
    return share.where(~reached, 1.0).where(values.notna()) * high


def n_dist_reference(
    values: pd.Series, scale: tuple[float, float], *, reference: str, direction: int = 1, **_: Any
) -> pd.Series:
    """x / x[reference] * 100; direction -1 gives x[reference] / x * 100 (lower than it: above 100)."""
    base = values[reference]
    return (values / base if direction > 0 else base / values) * 100


def n_none(values: pd.Series, scale: tuple[float, float], **_: Any) -> pd.Series:
    """The values are already scores: returned as they are."""
    return values.astype("float64")


NORMALISERS: dict[str, Normaliser] = {
    "minmax": n_minmax,
    "zscore": n_zscore,
    "goalposts": n_goalposts,
    "rank": n_rank,
    "percentile": n_percentile,
    "dist_max": n_dist_max,
    "dist_target": n_dist_target,
    "dist_reference": n_dist_reference,
    "none": n_none,
}

TRANSFORMS: dict[str, Callable[[Any], Any]] = {"ln": np.log, "log10": np.log10}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value == ""


def _settings_of(settings: pd.DataFrame | None, code: str) -> Mapping[str, Any]:
    if settings is None or code not in settings.index:
        return {}
    row = settings.loc[code]
    return {key: value for key, value in row.items() if not _blank(value)}


def _lookup(method: str) -> Normaliser:
    try:
        return NORMALISERS[method]
    except KeyError:
        raise ValueError(f"unknown normalisation {method!r}; known: {sorted(NORMALISERS)}") from None


def _transform(values: pd.Series, name: str, code: str) -> pd.Series:
    if name not in TRANSFORMS:
        raise ValueError(f"indicator {code!r}: unknown transform {name!r}; known: {sorted(TRANSFORMS)}")
    bad = values[values <= 0]
    if len(bad):
        raise ValueError(
            f"indicator {code!r}: {name} of a non-positive value {bad.iloc[0]} for unit {bad.index[0]!r}"
        )
    return TRANSFORMS[name](values)


def _transform_number(value: float, name: str, code: str, what: str) -> float:
    if value <= 0:
        raise ValueError(f"indicator {code!r}: {name} of a non-positive {what} {value}")
    return float(TRANSFORMS[name](value))


def _normalise_column(
    values: pd.Series,
    code: str,
    sign: int,
    method: str,
    scale: tuple[float, float],
    options: Mapping[str, Any],
) -> pd.Series:
    name = str(options.get("normalise", method))
    normaliser = _lookup(name)
    if name == "none":
        return normaliser(values, scale)
    values = values.astype("float64")
    transform = str(options.get("transform", ""))
    if transform:
        values = _transform(values, transform, code)
    keywords: dict[str, Any] = {"direction": sign}
    if name == "goalposts":
        if "goalpost_low" not in options or "goalpost_high" not in options:
            raise ValueError(f"indicator {code!r}: goalposts need both goalpost_low and goalpost_high")
        lower, upper = float(options["goalpost_low"]), float(options["goalpost_high"])
        if transform:
            lower = _transform_number(lower, transform, code, "goalpost")
            upper = _transform_number(upper, transform, code, "goalpost")
        if not lower < upper:
            raise ValueError(f"indicator {code!r}: goalpost_low must be below goalpost_high")
        keywords["goalposts"] = (lower, upper) if sign > 0 else (-upper, -lower)
    if name == "dist_target":
        if "target" not in options:
            raise ValueError(f"indicator {code!r}: dist_target needs a target")
        target = float(options["target"])
        if transform:
            target = _transform_number(target, transform, code, "target")
        keywords["target"] = target * sign
    if name == "dist_reference":
        reference = options.get("reference")
        if reference is None:
            raise ValueError(f"indicator {code!r}: dist_reference needs a reference unit")
        if reference not in values.index:
            raise ValueError(f"indicator {code!r}: reference unit {reference!r} is not among the units")
        base = values[reference]
        if not np.isfinite(base) or base == 0:
            raise ValueError(f"indicator {code!r}: reference unit {reference!r} has no usable value ({base})")
        if sign < 0 and (values == 0).any():
            unit = values.index[(values == 0).to_numpy()][0]
            raise ValueError(f"indicator {code!r}: dist_reference with direction -1 divides by 0 at {unit!r}")
        keywords["reference"] = reference
    return normaliser(values * sign, scale, **keywords)


def normalise(
    data: pd.DataFrame,
    direction: pd.Series,
    method: str = "minmax",
    scale: tuple[float, float] = (0, 100),
    *,
    settings: pd.DataFrame | None = None,
    reference: str | None = None,
) -> pd.DataFrame:
    """Normalise every indicator column of `data` (units x indicators) after applying direction.

    `method` is the default for every indicator; `settings` (indexed by indicator code) may
    name another per indicator and carries goalposts, transform, target and reference unit;
    `reference` is the reference unit of `dist_reference` for indicators without their own.
    """
    _lookup(method)
    out = {}
    for code in data.columns:
        options = dict(_settings_of(settings, code))
        if reference is not None:
            options.setdefault("reference", reference)
        sign = -1 if direction[code] < 0 else 1
        out[code] = _normalise_column(data[code], code, sign, method, scale, options)
    return pd.DataFrame(out, index=data.index, columns=data.columns)
