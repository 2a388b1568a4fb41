"""Normalise: bring indicators of different units onto one scale, higher always better.

Methods are small named functions looked up from the method file (as COINr's `n_minmax`),
each taking one indicator's values (already multiplied by its direction) and returning
the normalised values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Normaliser = Callable[[pd.Series, tuple[float, float]], pd.Series]


def n_minmax(values: pd.Series, scale: tuple[float, float]) -> pd.Series:
    """Min-max to [low, high]; an indicator with no spread carries no information (missing)."""
    low, high = scale
    spread = values.max() - values.min()
    if not np.isfinite(spread) or spread == 0:
        return pd.Series(np.nan, index=values.index, dtype="float64")
    return (values - values.min()) / spread * (high - low) + low


NORMALISERS: dict[str, Normaliser] = {"minmax": n_minmax}


def normalise(
    data: pd.DataFrame, direction: pd.Series, method: str = "minmax", scale: tuple[float, float] = (0, 100)
) -> pd.DataFrame:
    """Normalise every indicator column of `data` (units x indicators) after applying direction."""
    try:
        normaliser = NORMALISERS[method]
    except KeyError:
        raise ValueError(f"unknown normalisation {method!r}; known: {sorted(NORMALISERS)}") from None
    return data.apply(lambda column: normaliser(column * direction[column.name], scale))
