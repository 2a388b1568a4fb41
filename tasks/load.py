"""Read raw CSV files into typed DataFrames that remember where every row came from.

Every frame gets `source_file` and `source_line` (1-based, the header is line 1) so that a
failed check can name the file, line and column. Cells are read as text first and converted
here, so a cell that is not a number or a date is reported at its own line, not as a dtype
error deep inside pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

# Column kinds: "str", "int", "float", "date" (required), "date?" (may be empty).
CITIES = {"city_code": "str", "name_en": "str", "name_zh": "str", "province": "str"}
CEEC_MEMBERS = {"iso3": "str", "name": "str", "joined": "date", "left": "date?"}
FX_RATES = {"year": "int", "currency": "str", "cny_per_unit": "float"}
NATIONAL_TRADE = {"year": "int", "flow": "str", "value_cny": "float"}
TRADE_RECORDS = {
    "period": "str",
    "reporter_city": "str",
    "partner": "str",
    "flow": "str",
    "hs2": "str",
    "value": "float",
    "currency": "str",
}
INDICATOR_VALUES = {
    "year": "int",
    "city_code": "str",
    "indicator": "str",
    "value": "float",
    "source": "str",
}
FRAMEWORK = {
    "code": "str",
    "name": "str",
    "parent": "str",
    "level": "int",
    "weight": "float",
    "direction": "int",
    "unit": "str",
    "origin": "str",
}


class LoadError(Exception):
    """A raw file that cannot be read as its contract says; names file, line and column."""

    def __init__(self, file: str, message: str, line: int | None = None, column: str | None = None):
        self.file, self.line, self.column = file, line, column
        where = file + (f", line {line}" if line else "") + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")


# Per-indicator method settings a framework table may add (empty cells = the method's default).
FRAMEWORK_SETTINGS = {
    "denominator": "str",
    "normalise": "str",
    "goalpost_low": "float",
    "goalpost_high": "float",
    "transform": "str",
    "target": "float",
    "reference": "str",
    "treat": "str",
    "aggregate": "str",
}


def read_csv(
    path: Path,
    columns: Mapping[str, str],
    label: str | None = None,
    optional: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read one CSV whose header must be `columns` (any order) plus any of `optional`, typed per contract."""
    label = label or path.as_posix()
    data = path.read_bytes()
    blank = _blank_line(data)
    if blank:
        raise LoadError(label, "empty line (line numbers would no longer match the file)", line=blank)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(encoding="utf8"),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys([*columns, *(optional or {})], pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise LoadError(
            label, f"cannot be parsed as UTF-8 CSV ({exc})", line=_line_of(data, str(exc))
        ) from exc
    header = table.column_names
    columns = dict(columns) | {c: kind for c, kind in (optional or {}).items() if c in header}
    missing = [c for c in columns if c not in header]
    extra = [c for c in header if c not in columns]
    if missing or extra:
        parts = [
            f"missing columns {missing}" if missing else "",
            f"unexpected columns {extra}" if extra else "",
        ]
        raise LoadError(label, "; ".join(p for p in parts if p) + f" (expected {list(columns)})", line=1)
    frame = table.select(list(columns)).to_pandas()
    for column, kind in columns.items():
        frame[column] = _convert(frame[column], kind, label, column)
    frame["source_file"] = label
    frame["source_line"] = np.arange(2, len(frame) + 2, dtype="int64")
    return frame


def read_many(paths: Iterable[Path], columns: Mapping[str, str], labels: Mapping[Path, str]) -> pd.DataFrame:
    """Read several files of one contract and stack them, keeping each row's origin."""
    frames = [read_csv(p, columns, labels.get(p)) for p in paths]
    if not frames:
        return _empty(columns)
    return pd.concat(frames, ignore_index=True)


def _empty(columns: Mapping[str, str]) -> pd.DataFrame:
    dtypes = {"str": "str", "int": "int64", "float": "float64", "date": "datetime64[us]"}
    frame = pd.DataFrame({c: pd.Series(dtype=dtypes[k.rstrip("?")]) for c, k in columns.items()})
    frame["source_file"] = pd.Series(dtype="str")
    frame["source_line"] = pd.Series(dtype="int64")
    return frame


def _convert(text: pd.Series, kind: str, label: str, column: str) -> pd.Series:
    text = text.str.strip()
    if kind == "str":
        return text
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if kind == "date":
        parsed = pd.to_datetime(text.where(text != ""), format="%Y-%m-%d", errors="coerce")
        _reject(text, parsed.isna() & ((text != "") | (not optional)), label, column, "a date YYYY-MM-DD")
        return parsed.astype("datetime64[us]")
    parsed = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = parsed.isna() & (text != "")
    bad |= ~np.isfinite(parsed.fillna(0.0))
    if kind == "int":
        bad |= parsed.notna() & (parsed != parsed.round())
        expected = "a whole number"
    else:
        expected = "a finite number (no thousands separators or units)"
    _reject(text, bad, label, column, expected)
    if kind == "int":
        if parsed.isna().any():
            _reject(text, parsed.isna(), label, column, expected)
        return parsed.astype("int64")
    return parsed.astype("float64")


def _reject(text: pd.Series, bad: pd.Series, label: str, column: str, expected: str) -> None:
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        count = int(bad.sum())
        more = f" ({count} rows in all)" if count > 1 else ""
        raise LoadError(
            label, f"expected {expected}, found {text.iloc[first]!r}{more}", line=first + 2, column=column
        )


def _blank_line(data: bytes) -> int | None:
    """1-based number of the first empty line before the end of the file, if any."""
    text = data.replace(b"\r\n", b"\n")
    at = text.find(b"\n\n")
    if at < 0 or at + 2 >= len(text):  # a single trailing empty line is a final newline
        return 1 if text.startswith(b"\n") else None
    return text.count(b"\n", 0, at) + 2


def _line_of(data: bytes, message: str) -> int | None:
    """The line a pyarrow parse error quotes ("Expected 7 columns, got 8: <row>"), if found."""
    row = message.rsplit(": ", 1)[-1].encode("utf-8", "replace")
    at = data.find(row) if len(row) > 3 else -1
    return data.count(b"\n", 0, at) + 1 if at >= 0 else None
