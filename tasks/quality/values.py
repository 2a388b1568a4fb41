"""Cell values as reports show them and as GX takes them: plain Python, missing as None.

Frames hold numpy and pandas scalars (``np.int64``, ``pd.Timestamp``, ``pd.NA``); a message, a
Parquet text column or a GX parameter list needs the plain value, and one rule for "missing".
"""

from __future__ import annotations

import contextlib
import math

import pandas as pd


def plain(value: object) -> object:
    """numpy/pandas scalars as plain Python, missing values as None, timestamps as ISO text."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            return None
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, list | dict | tuple):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value) is True:
            return None
    except (TypeError, ValueError):
        pass
    return value


def shown(value: object) -> str:
    """A plain value as a message quotes it; None reads as what it was in the file."""
    return "an empty value" if value is None else repr(value)
