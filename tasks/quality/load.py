"""Read raw CSV files into typed DataFrames that remember where every row came from.

Every frame gets `source_file` and `source_line` (1-based, the header is line 1) so that a
failed check can name the file, line and column. Cells are read as text first and converted
here, so a cell that is not a number or a date is reported at its own line, not as a dtype
error deep inside pandas.

A file that cannot be read as its contract says raises `LoadError` with a `kind` (one of
`Kind`, a short stable string), the file, the line and the column where there is one, and a
message saying what was expected and what was found. This happens before Great Expectations
sees the data, so a malformed file never reaches a suite and nothing is published.

Speed: the happy path is pyarrow's CSV reader plus a few byte scans (the header line, one
count of the newlines, one search for rows of empty cells). The detective work (decoding the
whole file, parsing it line by line, classifying a bad cell) runs only once something failed.

A UTF-8 byte-order mark is accepted silently (Excel's "CSV UTF-8" writes one; the contract
tolerates it); a UTF-16 file is an `encoding` error.

This module holds the contracts and the happy path; the rest is split by idea:
`tasks.quality.load_errors` (`Kind`, `LoadError`), `tasks.quality.diagnose` (what is wrong with the bytes,
the header or a line), `tasks.quality.cells` (why a cell is not a number or a date) and
`tasks.quality.workbook` (Excel workbooks with a merged header). `Kind`, `LoadError`,
`classify_number` and `classify_date` are re-exported here.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tasks.quality.cells import classify_date, classify_number
from tasks.quality.diagnose import check_bytes, check_empty_rows, check_header, diagnose
from tasks.quality.load_errors import Kind, LoadError
from tasks.quality.workbook import merged_header_error, xlsx_merged_header

__all__ = [
    "CEEC_MEMBERS",
    "CITIES",
    "FRAMEWORK",
    "FRAMEWORK_SETTINGS",
    "FX_RATES",
    "INDICATOR_VALUES",
    "NATIONAL_TRADE",
    "TRADE_RECORDS",
    "Kind",
    "LoadError",
    "check_folder",
    "check_inside",
    "classify_date",
    "classify_number",
    "read_csv",
    "read_many",
]

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

# Per-indicator method settings a framework table may add (empty cells = the method's default).
FRAMEWORK_SETTINGS = {
    "denominator": "str",
    "normalise": "str",
    "goalpost_low": "float",
    "goalpost_high": "float",
    "goalpost_cap": "str",
    "goalpost_scale": "float",
    "transform": "str",
    "target": "float",
    "target_cap": "str",
    "reference": "str",
    "treat": "str",
    "aggregate": "str",
}


# ---------------------------------------------------------------------------------------------
# reading


def read_csv(
    path: Path,
    columns: Mapping[str, str],
    label: str | None = None,
    optional: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read one CSV whose header must be `columns` (any order) plus any of `optional`, typed per contract."""
    label = label or path.as_posix()
    data = raw_bytes(path, label)
    start = check_bytes(data, label)
    header, header_end = check_header(data, start, label, columns, optional or {})
    columns = dict(columns) | {c: kind for c, kind in (optional or {}).items() if c in header}
    check_empty_rows(data, header_end, len(header), label)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(encoding="utf8"),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise diagnose(data, start, label, header, str(exc)) from exc
    if table.num_rows != _data_lines(data, header_end):
        # pyarrow skipped a blank line or joined lines inside quotes: the line numbers would lie
        raise diagnose(data, start, label, header, "the rows do not match the lines")
    frame = table.select(list(columns)).to_pandas()
    problems = []
    for column, kind in columns.items():
        try:
            frame[column] = _convert(frame[column], kind, label, column, table.column(column))
        except LoadError as error:
            problems.append(error)
    if problems:  # the first bad cell of the file, not of the first bad column
        raise min(problems, key=lambda e: e.line or 0)
    frame["source_file"] = label
    frame["source_line"] = np.arange(2, len(frame) + 2, dtype="int64")
    return frame


def raw_bytes(path: Path, label: str | None = None) -> bytes:
    """A raw file's bytes, decompressed when it is gzipped (``.csv.gz``). A gzip stream that
    cannot be decompressed, or a file the system will not let us read, is bad input (a
    `LoadError` naming the file), never an I/O fault worth retrying."""
    label = label or path.as_posix()
    try:
        data = path.read_bytes()
    except PermissionError as exc:
        raise unreadable(label, exc) from None
    if path.suffix.lower() != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise corrupt_gzip(label, exc) from None


def corrupt_gzip(label: str, exc: BaseException) -> LoadError:
    return LoadError(
        label,
        f"expected a gzip-compressed CSV, found a truncated or corrupt gzip stream ({exc}): "
        "the file was cut short or damaged (an interrupted copy?); copy or export it again",
        kind=Kind.CORRUPT_FILE,
    )


def unreadable(label: str, exc: OSError) -> LoadError:
    return LoadError(
        label,
        f"cannot be read: {os.strerror(exc.errno or errno.EACCES).lower()}; give the user that runs "
        "the pipeline read access to it (chmod, chown) and run again",
        kind=Kind.UNREADABLE_FILE,
    )


def check_inside(paths: Iterable[Path], root: Path) -> None:
    """Refuse, before anything reads them, raw inputs under `root` that resolve outside it (a link
    to another file: its bytes are not the data's) and inputs the system will not let us read.
    Messages name the path as it lies in `root`, never the link's target's content."""
    top = root.resolve()
    for path in paths:
        label = f"{root.name}/{path.relative_to(root).as_posix()}" if path.is_relative_to(root) else str(path)
        if not path.resolve().is_relative_to(top):
            raise LoadError(
                label,
                f"expected a file inside {root.name}/, found a link to {path.resolve()}, outside it: raw "
                "inputs are never read through links that leave the raw folder; copy the file in instead",
                kind=Kind.OUTSIDE_RAW,
            )
        if path.is_file() and not os.access(path, os.R_OK):
            raise unreadable(label, PermissionError(errno.EACCES, "permission denied"))


def read_many(paths: Iterable[Path], columns: Mapping[str, str], labels: Mapping[Path, str]) -> pd.DataFrame:
    """Read several files of one contract and stack them, keeping each row's origin."""
    frames = [read_csv(p, columns, labels.get(p)) for p in paths]
    if not frames:
        return _empty(columns)
    return pd.concat(frames, ignore_index=True)


_README = re.compile(r"readme(\.\w+)?", re.IGNORECASE)
_EXCEL = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".numbers"}


def check_folder(
    folder: Path, label: str, allowed: Iterable[str] = (".csv",), pattern: str | None = None
) -> None:
    """Refuse any file in a raw data folder that the pipeline would not read (kind `unsupported_file`).

    A workbook next to the CSVs is usually the real data someone forgot to export: it is
    reported, not skipped. README files, dotfiles and subfolders are ignored. `pattern` (a
    regular expression for the whole name, e.g. r"2018-(0[1-9]|1[0-2])\\.csv") also refuses
    allowed files that a name glob would silently skip or read twice. An Excel workbook with
    merged header cells is reported as `xlsx_merged_header`.
    """
    if not folder.is_dir():
        return
    allowed = tuple(a.lower() for a in allowed)
    where = label.rstrip("/")
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.startswith(".") or _README.fullmatch(name) or path.is_dir():
            continue
        file = f"{where}/{name}"
        suffix = path.suffix.lower()
        if suffix in allowed:
            if pattern and not re.fullmatch(pattern, name):
                raise LoadError(
                    file,
                    f"expected a file name matching {pattern!r} in {where}/, found {name!r}: "
                    "it would not be read as it should (rename it, or move it out of the folder)",
                    kind=Kind.UNSUPPORTED_FILE,
                )
            continue
        kinds = " or ".join(allowed)
        if name.startswith("~$"):
            found = "an Excel lock file (the workbook is open in Excel): close it and remove this file"
        elif suffix in _EXCEL:
            merged = xlsx_merged_header(path.read_bytes()) if suffix in {".xlsx", ".xlsm"} else None
            if merged:
                raise merged_header_error(file, merged)
            found = (
                "a spreadsheet workbook: the contract is CSV; export the sheet as "
                "'CSV UTF-8 (Comma delimited)' into this folder and move the workbook out"
            )
        else:
            found = f"a {suffix or 'extensionless'} file: move it out of the folder, or convert it to CSV"
        raise LoadError(
            file, f"expected only {kinds} files in {where}/, found {found}", kind=Kind.UNSUPPORTED_FILE
        )


def _empty(columns: Mapping[str, str]) -> pd.DataFrame:
    dtypes = {"str": "str", "int": "int64", "float": "float64", "date": "datetime64[us]"}
    frame = pd.DataFrame({c: pd.Series(dtype=dtypes[k.rstrip("?")]) for c, k in columns.items()})
    frame["source_file"] = pd.Series(dtype="str")
    frame["source_line"] = pd.Series(dtype="int64")
    return frame


def _data_lines(data: bytes, header_end: int) -> int:
    """Lines after the header, not counting the final newline(s)."""
    end = len(data)
    while end > header_end and data[end - 1] in b"\r\n":
        end -= 1
    return data.count(b"\n", header_end, end)


# ---------------------------------------------------------------------------------------------
# the cells: typed by pyarrow when they are clean, else classified (tasks.quality.cells) and refused


def _convert(
    text: pd.Series, kind: str, label: str, column: str, arrow: pa.ChunkedArray | None = None
) -> pd.Series:
    if kind in ("int", "float") and arrow is not None:
        numbers = _arrow_numbers(arrow, whole=kind == "int")
        if numbers is not None:
            return pd.Series(numbers, index=text.index, name=text.name)
    text = text.str.strip()
    if kind == "str":
        return text
    if kind.startswith("date"):
        parsed = pd.to_datetime(text.where(text != ""), format="%Y-%m-%d", errors="coerce")
        _reject(text, parsed.isna() & ((text != "") | (kind == "date")), label, column, kind)
        return parsed.astype("datetime64[us]")
    parsed = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = (parsed.isna() & (text != "")) | ~np.isfinite(parsed.fillna(0.0))
    if kind == "int":
        bad |= parsed.isna() | (parsed != parsed.round())
    _reject(text, bad, label, column, kind)
    return parsed.astype("int64" if kind == "int" else "float64")


def _arrow_numbers(arrow: pa.ChunkedArray, whole: bool) -> np.ndarray | None:
    """The column as numbers when every cell is a clean one (pyarrow's parser: fast); else None."""
    text = pc.utf8_trim_whitespace(arrow)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        values = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
    finite = np.isfinite(values)
    if whole:
        if not finite.all() or (values != np.round(values)).any():
            return None
        return values.astype("int64")
    if np.count_nonzero(~finite) != text.null_count:  # a NaN or inf that was written in the cell
        return None
    return values


def _reject(text: pd.Series, bad: pd.Series, label: str, column: str, kind: str) -> None:
    """Raise for the first bad cell, classified, counting the others."""
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        count = int(bad.sum())
        value = text.iloc[first]
        if kind.startswith("date"):
            error_kind, message = classify_date(value, required=not kind.endswith("?"))
        else:
            error_kind, message = classify_number(value, kind)
        more = f" ({count} rows in all)" if count > 1 else ""
        raise LoadError(label, message + more, line=first + 2, column=column, kind=error_kind)
