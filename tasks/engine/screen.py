"""Screen: drop units with too little data to be scored credibly.

A unit missing most indicators would be ranked on imputed values, i.e. on its neighbours'
data. As COINr's `Screen`, a unit is kept when its share of available (non-missing)
indicators reaches `min_availability`; named units can be forced in (the threshold is
waived) or out (always dropped, even if also forced in). The report says why for every unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

_TOLERANCE = 1e-12  # 6 of 9 available is exactly 2/3, whatever the rounding of either side


@dataclass(frozen=True)
class ScreenResult:
    data: pd.DataFrame  # kept units only, original order
    report: pd.DataFrame  # one row per unit: unit, availability (0-1), kept, reason


def _known(data: pd.DataFrame, codes: Iterable[str], what: str) -> set[str]:
    codes = set(codes)
    unknown = sorted(map(str, codes - set(data.index)))
    if unknown:
        raise ValueError(f"screen: unknown unit codes to {what}: {unknown}")
    return codes


def screen(
    data: pd.DataFrame,
    min_availability: float = 2 / 3,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> ScreenResult:
    """Keep the units of `data` (units x indicators) with enough indicators available."""
    if not 0.0 <= min_availability <= 1.0:
        raise ValueError(f"min_availability must be in [0, 1], got {min_availability}")
    forced_in = _known(data, include, "include")
    forced_out = _known(data, exclude, "exclude")

    availability = data.notna().mean(axis=1).astype("float64")
    enough = availability >= min_availability - _TOLERANCE
    reason = pd.Series("ok", index=data.index, dtype="object")
    reason[~enough] = f"below threshold {min_availability:.2f}"
    reason[data.index.isin(forced_in)] = "forced include"
    reason[data.index.isin(forced_out)] = "forced exclude"
    kept = (enough | data.index.isin(forced_in)) & ~data.index.isin(forced_out)

    report = pd.DataFrame(
        {"unit": data.index, "availability": availability.to_numpy(), "kept": kept.to_numpy(),
         "reason": reason.to_numpy()}
    )  # fmt: skip
    return ScreenResult(data=data.loc[kept.to_numpy()], report=report)
