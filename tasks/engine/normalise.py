"""Normalise: bring indicators of different units onto one scale, higher always better.

Methods are small named functions looked up from the method file (as COINr's `n_minmax`),
each taking one indicator's values (already transformed and multiplied by its direction),
the target range `scale = (low, high)` and the indicator's own settings as keywords, and
returning the normalised values. Missing values stay missing.

| name | formula (x = value after transform and direction) |
| --- | --- |
| `minmax` | `low + (x - min) / (max - min) * (high - low)`; no spread -> missing |
| `zscore` | `(x - mean) / sd`, sample sd (ddof 1, as pandas `.std()`); `scale` is ignored |
| `goalposts` | `low + (cap(x) - gl) / (gh - gl) * (high - low)`, goalposts `gl < gh`, `cap` below |
| `rank` | `r`: the rank among the units (1 = lowest value), ties as `ties` says |
| `percentile` | `(r - 1) / (n - 1) * 100` (COINr's `n_prank` x 100): the lowest unit scores 0 |
| `percentile_share` | `r / n * 100` (pandas `rank(pct=True) * 100`): the lowest unit scores 100 / n |
| `dist_max` | `high - (max - x) / (max - min) * (high - low)`: the distance to the best unit |
| `dist_target` | `(x - min) / (target - min) * high` (`min` over the units), capped if `target_cap` |
| `dist_reference` | `x / x[reference unit] * 100` (direction -1: `x[reference] / x * 100`) |
| `none` | the values as they are (already scores; neither transform nor direction applied) |

Ranks (`rank`, `percentile`, `percentile_share`) follow `ties` (R's and pandas' `ties.method`):
`min` (COINr's default, "sport" ranking: 1, 2, 2, 4), `average` (1, 2.5, 2.5, 4), `max`
(1, 3, 3, 4) or `dense` (1, 2, 2, 3). `n` is the number of units with a value; under `dense`
it is the number of distinct values (the largest rank), so that the best unit still scores 100.
`percentile` of a single unit is missing (0 / 0, as in COINr).

`goalposts` caps as `goalpost_cap` says, in score terms: `both` (COINr's `trunc2posts = TRUE`:
`clip(x, gl, gh)`), `none` (`trunc2posts = FALSE`: scores may leave the range), `low` (no score
below `low`, none capped above) or `high` (no score above `high`).

`dist_max` is algebraically min-max, written as COINr's `n_dist2max` (the distance to the
frontier); `dist_target` is COINr's `n_dist2targ`, scaled by the range's upper bound only (a
unit at the minimum scores 0 whatever `low` is), and like COINr (`cap_max = FALSE`) uncapped
by default: a unit past the target scores above `high` (1.1 x `high` 10 % past it) unless
`target_cap` is true. `dist_reference` is a percentage of the reference unit and is not
confined to the range.

Direction -1 negates the values before normalisation, so a lower raw value scores higher;
goalposts and targets are negated with them (the goalposts swap: raw `[gl, gh]` becomes
`[-gh, -gl]`), so a raw value at the lower goalpost scores `high`. For `dist_reference` the
ratio of negated values would be unchanged, so direction -1 inverts the ratio instead.

Per-indicator settings come from an optional `settings` table indexed by indicator code,
with optional columns `normalise` (method; empty = the default `method`), `goalpost_low`,
`goalpost_high`, `goalpost_scale` (`goalposts` scores from 0 to it, COINr's `gposts[3]`,
instead of `scale`), `transform` (`""`, `"ln"`, `"log10"`: applied first, before the direction,
to the values and to the indicator's goalposts or target, whatever the method but `none`),
`target` (raw units), `reference` (a unit code of `data`'s index; the keyword
`reference` gives one for every indicator without its own), `goalpost_cap` and `target_cap`
(override the keywords of the same name for that indicator). A goalpost or target that is
not a number is an error naming the indicator and the column.
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
    values: pd.Series,
    scale: tuple[float, float],
    *,
    goalposts: tuple[float, float],
    cap: str = "both",
    **_: Any,
) -> pd.Series:
    """Fixed goalposts (lower, upper) mapped to [low, high]; `cap` says which end is capped."""
    low, high = scale
    lower, upper = goalposts
    floor = lower if cap in ("both", "low") else None
    ceiling = upper if cap in ("both", "high") else None
    return (values.clip(floor, ceiling) - lower) / (upper - lower) * (high - low) + low


def _ranks(values: pd.Series, ties: str) -> tuple[pd.Series, int]:
    """Ranks (1 = lowest) with `ties`, and `n`: the units with a value, or under `dense` the largest rank."""
    ranks = values.rank(method=ties, ascending=True, na_option="keep")
    count = int(ranks.max()) if ties == "dense" and ranks.notna().any() else int(values.notna().sum())
    return ranks, count


def n_rank(values: pd.Series, scale: tuple[float, float], *, ties: str = "min", **_: Any) -> pd.Series:
    """Rank of the value (1 = lowest, ties as `ties`): the highest value gets the highest rank."""
    return _ranks(values, ties)[0]


def n_percentile(values: pd.Series, scale: tuple[float, float], *, ties: str = "min", **_: Any) -> pd.Series:
    """COINr's percentile rank x 100: (rank - 1) / (n - 1) * 100, the lowest unit 0, the highest 100."""
    ranks, count = _ranks(values, ties)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ranks - 1) / (count - 1) * 100 if count > 1 else _missing(values)


def n_percentile_share(
    values: pd.Series, scale: tuple[float, float], *, ties: str = "min", **_: Any
) -> pd.Series:
    """Share of the units at or below the value's rank: rank / n * 100 (pandas `rank(pct=True)`)."""
    return values.rank(method=ties, ascending=True, na_option="keep", pct=True) * 100


def n_dist_max(values: pd.Series, scale: tuple[float, float], **_: Any) -> pd.Series:
    """high - (max - x) / (max - min) * (high - low): the best unit scores `high`; no spread -> missing."""
    low, high = scale
    spread = values.max() - values.min()
    if not np.isfinite(spread) or spread == 0:
        return _missing(values)
    return high - (values.max() - values) / spread * (high - low)


def n_dist_target(
    values: pd.Series, scale: tuple[float, float], *, target: float, cap: bool = False, **_: Any
) -> pd.Series:
    """(x - min) / (target - min) * high; with `cap`, units at or past the target score `high`."""
    high = scale[1]
    lowest = values.min()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (values - lowest) / (target - lowest)
    if cap:
        share = share.where(values < target, 1.0).where(values.notna())
    return share * high


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
    "percentile_share": n_percentile_share,
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


GOALPOST_CAPS = ("both", "none", "low", "high")
TIES = ("min", "average", "max", "dense")
# The words a true-or-false setting may be written with (any case); R writes TRUE and FALSE, or T and F.
FLAG_WORDS = dict.fromkeys(("true", "t", "yes", "1"), True) | dict.fromkeys(("false", "f", "no", "0"), False)


def _number(options: Mapping[str, Any], key: str, code: str) -> float:
    """A numeric setting; a cell such as `log10(901)` is an error naming the indicator and column."""
    value = options[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"indicator {code!r}: {key} {value!r} is not a number") from None
    if not np.isfinite(number):
        raise ValueError(f"indicator {code!r}: {key} {value!r} is not a finite number")
    return number


def _flag(value: Any, code: str, key: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if text in FLAG_WORDS:
        return FLAG_WORDS[text]
    raise ValueError(f"indicator {code!r}: {key} {value!r} is not true or false")


def _choice(value: Any, known: tuple[str, ...], code: str, key: str) -> str:
    if str(value) not in known:
        raise ValueError(f"indicator {code!r}: {key} {value!r} is not one of {list(known)}")
    return str(value)


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
    keywords: dict[str, Any] = {"direction": sign, "ties": _choice(options["ties"], TIES, code, "ties")}
    if name == "goalposts":
        if "goalpost_low" not in options or "goalpost_high" not in options:
            raise ValueError(f"indicator {code!r}: goalposts need both goalpost_low and goalpost_high")
        lower, upper = _number(options, "goalpost_low", code), _number(options, "goalpost_high", code)
        if transform:
            lower = _transform_number(lower, transform, code, "goalpost")
            upper = _transform_number(upper, transform, code, "goalpost")
        if not lower < upper:
            raise ValueError(f"indicator {code!r}: goalpost_low must be below goalpost_high")
        keywords["goalposts"] = (lower, upper) if sign > 0 else (-upper, -lower)
        keywords["cap"] = _choice(options["goalpost_cap"], GOALPOST_CAPS, code, "goalpost_cap")
        if "goalpost_scale" in options:  # COINr's `gposts[3]`: scores from 0 to it
            size = _number(options, "goalpost_scale", code)
            if not size > 0:
                raise ValueError(f"indicator {code!r}: goalpost_scale {size} is not positive")
            scale = (0.0, size)
    if name == "dist_target":
        if "target" not in options:
            raise ValueError(f"indicator {code!r}: dist_target needs a target")
        target = _number(options, "target", code)
        if transform:
            target = _transform_number(target, transform, code, "target")
        keywords["target"] = target * sign
        keywords["cap"] = _flag(options["target_cap"], code, "target_cap")
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
    ties: str = "min",
    goalpost_cap: str = "both",
    target_cap: bool = False,
) -> pd.DataFrame:
    """Normalise every indicator column of `data` (units x indicators) after applying direction.

    `method` is the default for every indicator; `settings` (indexed by indicator code) may
    name another per indicator and carries goalposts, transform, target, reference unit and
    caps; `reference` is the reference unit of `dist_reference` for indicators without their
    own. `ties`, `goalpost_cap` and `target_cap` are the defaults of the module doc's options.
    """
    _lookup(method)
    defaults = {"ties": ties, "goalpost_cap": goalpost_cap, "target_cap": target_cap}
    if reference is not None:
        defaults["reference"] = reference
    out = {}
    for code in data.columns:
        options = defaults | dict(_settings_of(settings, code))
        sign = -1 if direction[code] < 0 else 1
        out[code] = _normalise_column(data[code], code, sign, method, scale, options)
    return pd.DataFrame(out, index=data.index, columns=data.columns)
