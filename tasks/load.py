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
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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


class Kind(StrEnum):
    """What is wrong with a raw file: `LoadError.kind`, stable strings for tests and tools.

    `line` is 1-based with the header as line 1; `column` is the contract column (or, for a
    renamed, extra or duplicate column, the header cell as written in the file).
    """

    # -- the file as a whole (line and column: none, unless said) --
    EMPTY_FILE = "empty_file"
    """0 bytes, or only whitespace (line 1)."""
    NOT_CSV = "not_csv"
    """Not text at all: an Excel workbook (XLSX or XLS) saved under a .csv name, a zip, a PDF,
    binary bytes."""
    UNSUPPORTED_FILE = "unsupported_file"
    """A file in a raw data folder that is not a CSV (`check_folder`): e.g. an .xlsx, .xls,
    .txt, or a CSV whose name the folder's pattern would silently skip."""
    XLSX_MERGED_HEADER = "xlsx_merged_header"
    """An Excel workbook whose header row has merged cells (line 1 = the header row; the
    message names the sheet and the cell ranges)."""
    ENCODING = "encoding"
    """Not UTF-8 (GBK/GB18030, Windows-1252, UTF-16 ...): the first undecodable byte's line
    and column, its byte offset, and a guess at the encoding used."""
    LINE_ENDINGS = "line_endings"
    """Lines end with a bare CR (old Mac Excel "CSV (Macintosh)"); LF or CRLF are fine."""
    DELIMITER = "delimiter"
    """The header is split by another delimiter than the comma (';', tab, '|', full-width
    '，'), line 1."""

    # -- the header (line 1) --
    MISSING_COLUMNS = "missing_columns"
    """A contract column is absent (column: the first missing contract column)."""
    RENAMED_COLUMNS = "renamed_columns"
    """A contract column is absent and an unexpected header cell looks like it (case, spaces,
    underscores, accents, or a close spelling): column = the header cell as written."""
    EXTRA_COLUMNS = "extra_columns"
    """A header cell the contract does not know (column: as written; '' = an unnamed column,
    e.g. a trailing comma)."""
    DUPLICATE_COLUMNS = "duplicate_columns"
    """The same column name twice in the header."""
    HEADER_ONLY = "header_only"
    """A header and no data row: suspicious for every contract (an export that failed?);
    line 2 = where the data should start."""

    # -- the lines --
    BLANK_LINE = "blank_line"
    """An empty or whitespace-only line, or a row whose cells are all empty, before the end of
    the file (line numbers after it would no longer match the file)."""
    TRUNCATED_LINE = "truncated_line"
    """The last line is cut short: fewer cells than the header and no final newline."""
    RAGGED_ROW = "ragged_row"
    """A row with more or fewer cells than the header (e.g. an unquoted comma in a number)."""
    LINE_BREAK_IN_CELL = "line_break_in_cell"
    """A quoted cell that is not closed on its line (a line break inside a cell)."""
    CSV_SYNTAX = "csv_syntax"
    """Anything else the CSV parser refuses (the parser's message is quoted)."""

    # -- one cell (line and column of the first bad cell; the message counts all of them) --
    EMPTY_CELL = "empty_cell"
    """An empty cell in a required integer or date column (empty text and number cells are
    left to the Great Expectations suites)."""
    MISSING_MARKER = "missing_marker"
    """An explicit missing marker ('N/A', 'NA', '#N/A', '-', 'null' ...) where a number or a
    date is expected: leave the cell empty instead."""
    NOT_FINITE = "not_finite"
    """'NaN', 'inf', '-inf', 'Infinity': not values; leave the cell empty if missing."""
    THOUSANDS_SEPARATOR = "thousands_separator"
    """'1,234.5', '1 234', "1'234", '1.234.567' or '1.234,5': no grouping of digits."""
    DECIMAL_COMMA = "decimal_comma"
    """'6,6': the decimal separator is the dot."""
    UNIT_IN_CELL = "unit_in_cell"
    """A number with a unit or text beside it: '6.6 CNY', '12%', 'USD 5', '¥5', '5万'."""
    NOT_A_NUMBER = "not_a_number"
    """Any other text where a number is expected (also full-width digits, spreadsheet errors
    such as '#DIV/0!')."""
    NOT_AN_INTEGER = "not_an_integer"
    """A number with a fraction where a whole number is expected ('2018.5')."""
    DATE_FORMAT = "date_format"
    """A date not written YYYY-MM-DD; the message names the format found when it is a known
    one ('12/04/2019', '2019.04.12', '12 Apr 2019', a spreadsheet serial number ...)."""
    INVALID_DATE = "invalid_date"
    """YYYY-MM-DD, but no such day ('2019-02-30')."""


class LoadError(Exception):
    """A raw file that cannot be read as its contract says; names kind, file, line and column."""

    def __init__(
        self,
        file: str,
        message: str,
        line: int | None = None,
        column: str | None = None,
        kind: Kind | str = Kind.CSV_SYNTAX,
    ):
        self.file, self.line, self.column, self.kind = file, line, column, Kind(kind)
        self.message = message
        where = (
            file + (f", line {line}" if line else "") + (f", column '{column}'" if column is not None else "")
        )
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # picklable across Prefect task boundaries
        return (LoadError, (self.file, self.message, self.line, self.column, str(self.kind)))


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
    data = path.read_bytes()
    start = _check_bytes(data, label)
    header, header_end = _check_header(data, start, label, columns, optional or {})
    columns = dict(columns) | {c: kind for c, kind in (optional or {}).items() if c in header}
    _check_empty_rows(data, header_end, len(header), label)
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
        raise _diagnose(data, start, label, header, str(exc)) from exc
    if table.num_rows != _data_lines(data, header_end):
        # pyarrow skipped a blank line or joined lines inside quotes: the line numbers would lie
        raise _diagnose(data, start, label, header, "the rows do not match the lines")
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
            merged = _xlsx_merged_header(path.read_bytes()) if suffix in {".xlsx", ".xlsm"} else None
            if merged:
                raise _merged_header_error(file, merged)
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


# ---------------------------------------------------------------------------------------------
# the file and the header: cheap checks on the first bytes

_BOM = b"\xef\xbb\xbf"
_NOT_SPACE = re.compile(rb"[^\s]")


def _check_bytes(data: bytes, label: str) -> int:
    """Refuse what is not a UTF-8 text file; returns where the text starts (after a BOM)."""
    start = len(_BOM) if data.startswith(_BOM) else 0
    if not _NOT_SPACE.search(data, start):
        found = "0 bytes" if not data else "only whitespace"
        raise LoadError(
            label,
            f"expected a header line and data rows, found an empty file ({found})",
            1,
            kind=Kind.EMPTY_FILE,
        )
    head = data[:4096]
    if head.startswith(b"PK\x03\x04"):
        merged = _xlsx_merged_header(data)
        if merged:
            raise _merged_header_error(label, merged)
        what = "an Excel workbook (XLSX)" if merged is not None else "a zip archive"
        raise LoadError(
            label,
            f"expected a CSV text file, found {what} saved under a .csv name: open it and export "
            "the sheet as 'CSV UTF-8 (Comma delimited)'",
            kind=Kind.NOT_CSV,
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        found = "an old Excel workbook (XLS)"
    elif head.startswith(b"%PDF"):
        found = "a PDF document"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")) or (b"\x00" in head and _utf16(head)):
        raise LoadError(
            label,
            "expected UTF-8, found UTF-16 text (Excel's 'Unicode Text'): save the file as 'CSV UTF-8'",
            1,
            kind=Kind.ENCODING,
        )
    elif b"\x00" in head:
        found = "binary data (NUL bytes)"
    else:
        found = None
    if found:
        raise LoadError(label, f"expected a CSV text file, found {found}", kind=Kind.NOT_CSV)
    if b"\r" in head and b"\n" not in head and head.index(b"\r") < len(head) - 1:
        raise LoadError(
            label,
            "expected lines ending in LF or CRLF, found lines ending in a bare CR (old Mac "
            "'CSV (Macintosh)'): save as 'CSV UTF-8'",
            1,
            kind=Kind.LINE_ENDINGS,
        )
    return start


def _utf16(head: bytes) -> bool:
    """Text with every other byte NUL: UTF-16 without a byte-order mark."""
    even, odd = head[0::2], head[1::2]
    return even.count(0) > len(even) * 0.4 or odd.count(0) > len(odd) * 0.4


_DELIMITERS = {";": "semicolons (';')", "\t": "tabs", "|": "pipes ('|')", "，": "full-width commas ('，')"}


def _check_header(
    data: bytes, start: int, label: str, columns: Mapping[str, str], optional: Mapping[str, str]
) -> tuple[list[str], int]:
    """The header's cells (checked against the contract) and the offset of its newline."""
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    raw = data[start:end].rstrip(b"\r")
    if not raw.strip():
        raise LoadError(label, "expected the header on line 1, found an empty line", 1, kind=Kind.BLANK_LINE)
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _encoding_error(data, label, []) from None
    header = _cells(line)
    known = {*columns, *optional}
    best = max(_DELIMITERS, key=lambda d: (_matches(_cells(line, d), known), len(_cells(line, d))))
    split = _cells(line, best)
    if len(split) > 1 and (
        _matches(split, known) > _matches(header, known) or (len(header) == 1 and header[0] not in known)
    ):
        raise LoadError(
            label,
            f"expected cells separated by commas, found {_DELIMITERS[best]}: the header reads "
            f"{_short(line)!r}; save the file as CSV with the comma as delimiter (and the dot as "
            "decimal separator)",
            1,
            kind=Kind.DELIMITER,
        )
    _check_names(header, columns, optional, label)
    if not _NOT_SPACE.search(data, end):
        raise LoadError(
            label,
            "expected data rows from line 2, found only the header: an empty file is suspicious "
            "(a failed export?); fill it or remove it",
            2,
            kind=Kind.HEADER_ONLY,
        )
    return header, end


def _cells(line: str, delimiter: str = ",") -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=False), [])
    except csv.Error:  # a NUL or line-break character: count plain delimiters instead
        return line.split(delimiter)


def _matches(cells: list[str], known: set[str]) -> int:
    names = {_norm(c) for c in known}
    return sum(_norm(c) in names for c in cells)


def _norm(name: str) -> str:
    """A column name without case, accents, spaces, underscores or punctuation."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    return re.sub(r"[^a-z0-9]", "", ascii_name)


def _check_names(
    header: list[str], columns: Mapping[str, str], optional: Mapping[str, str], label: str
) -> None:
    duplicates = [c for c in dict.fromkeys(header) if header.count(c) > 1]
    if duplicates:
        raise LoadError(
            label,
            f"expected each column once, found {duplicates[0]!r} {header.count(duplicates[0])} times "
            f"in the header",
            1,
            duplicates[0],
            kind=Kind.DUPLICATE_COLUMNS,
        )
    missing = [c for c in columns if c not in header]
    absent = [c for c in optional if c not in header and c not in columns]
    extra = [c for c in header if c not in columns and c not in optional]
    if not missing and not extra:
        return
    renamed = _renamed(missing, extra) + _renamed(absent, extra)
    renamed_from = {found for _, found in renamed}
    missing = [c for c in missing if c not in {m for m, _ in renamed}]
    extra = [c for c in extra if c not in renamed_from]
    parts = [f"column {m!r} appears renamed to {f!r}" for m, f in renamed]
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        unnamed = " (an unnamed column: a trailing comma?)" if "" in extra else ""
        parts.append(f"unexpected columns {extra}{unnamed}")
    also = f" and any of the optional {list(optional)}" if optional else ""
    message = "; ".join(parts) + f" (expected the columns {list(columns)}{also}, found {header})"
    if renamed:
        kind, column = Kind.RENAMED_COLUMNS, renamed[0][1]
    elif missing:
        kind, column = Kind.MISSING_COLUMNS, missing[0]
    else:
        kind, column = Kind.EXTRA_COLUMNS, extra[0]
    raise LoadError(label, message, 1, column, kind=kind)


def _renamed(missing: list[str], extra: list[str]) -> list[tuple[str, str]]:
    """(contract name, header cell) pairs of columns that look renamed; each cell used once."""
    pairs, free = [], list(extra)
    for name in missing:
        key = _norm(name)
        same = [c for c in free if _norm(c) == key and key]
        if not same and len(key) >= 4:  # 'value_cny' written 'value', or 'value' written 'value (CNY)'
            same = [c for c in free if len(_norm(c)) >= 4 and (_norm(c) in key or key in _norm(c))]
        if not same:
            close = difflib.get_close_matches(_norm(name), [_norm(c) for c in free], n=1, cutoff=0.8)
            same = [c for c in free if close and _norm(c) == close[0]]
        if same:
            pairs.append((name, same[0]))
            free.remove(same[0])
    return pairs


def _check_empty_rows(data: bytes, header_end: int, width: int, label: str) -> None:
    """Refuse a row whose cells are all empty (a blank spreadsheet row exported as ',,,,')."""
    if width < 2:
        return
    row = b"\n" + b"," * (width - 1)
    at = data.find(row, header_end)
    while at >= 0:
        if data[at + len(row) : at + len(row) + 1] in (b"", b"\n", b"\r"):
            raise LoadError(
                label,
                "expected a data row, found a row whose cells are all empty (a blank spreadsheet row?)",
                data.count(b"\n", 0, at) + 2,
                kind=Kind.BLANK_LINE,
            )
        at = data.find(row, at + 1)


def _data_lines(data: bytes, header_end: int) -> int:
    """Lines after the header, not counting the final newline(s)."""
    end = len(data)
    while end > header_end and data[end - 1] in b"\r\n":
        end -= 1
    return data.count(b"\n", header_end, end)


# ---------------------------------------------------------------------------------------------
# the lines: only after pyarrow refused the file or its rows do not match its lines


def _diagnose(data: bytes, start: int, label: str, header: list[str], parser: str) -> LoadError:
    """The first problem of a file pyarrow refused, with its exact line (slow: failures only)."""
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError:
        return _encoding_error(data, label, header)
    lines = text.split("\n")
    final_newline = lines[-1] == ""
    if final_newline:
        lines.pop()
    while len(lines) > 1 and lines[-1] in ("", "\r"):  # empty lines at the end are tolerated
        lines.pop()
    width = len(header)
    for number, line in enumerate(lines[1:], start=2):
        line = line.removesuffix("\r")
        if not line.strip():
            return LoadError(
                label,
                f"{'empty' if not line else 'whitespace-only'} line: expected a data row (line numbers "
                "after it would no longer match the file); remove it",
                number,
                kind=Kind.BLANK_LINE,
            )
        if line.count(",") == width - 1 and '"' not in line and "\r" not in line:
            continue
        if "\r" in line:  # pyarrow ends a row at a bare CR, so the rows no longer match the lines
            return LoadError(
                label,
                f"expected lines ending in LF or CRLF, found a bare carriage return (CR) inside "
                f"{_short(line)!r}; remove it",
                number,
                kind=Kind.LINE_ENDINGS,
            )
        if line.count('"') % 2:
            return LoadError(
                label,
                f"expected every quoted cell to end on its line, found a quote that is not closed "
                f"in {_short(line)!r} (a line break inside a cell?); remove line breaks from cells",
                number,
                header[min(_cell_index(line, line.rfind('"')), width - 1)],
                kind=Kind.LINE_BREAK_IN_CELL,
            )
        cells = _cells(line)
        if len(cells) == width:
            continue
        last = number == len(lines) and not final_newline
        if last and len(cells) < width:
            return LoadError(
                label,
                f"expected {width} cells as in the header, found {len(cells)} on the last line "
                f"{_short(line)!r}, which has no final newline: the file looks truncated (an "
                "interrupted copy or export?)",
                number,
                header[len(cells) - 1] if cells else None,
                kind=Kind.TRUNCATED_LINE,
            )
        return LoadError(
            label,
            f"expected {width} cells as in the header, found {len(cells)}: {_short(line)!r}"
            + _ragged_hint(cells, width),
            number,
            kind=Kind.RAGGED_ROW,
        )
    return LoadError(label, f"cannot be parsed as CSV ({parser})", kind=Kind.CSV_SYNTAX)


def _ragged_hint(cells: list[str], width: int) -> str:
    if len(cells) == 1:
        for delimiter, name in _DELIMITERS.items():
            if delimiter in cells[0]:
                return f" (cells separated by {name} on this line?)"
    if len(cells) > width and any(
        re.fullmatch(r"\d{1,3}", a.strip()) and re.fullmatch(r"\d{3}(\.\d+)?", b.strip())
        for a, b in zip(cells, cells[1:], strict=False)
    ):
        return " (a thousands separator, as in 7,807? write 7807; or quote a cell that holds a comma)"
    if len(cells) > width:
        return " (an unquoted comma inside a cell? quote the cell)"
    return ""


def _cell_index(line: str, at: int) -> int:
    """Which cell (0-based) of a CSV line holds character `at` (quotes respected)."""
    return max(len(_cells(line[:at] + "x")) - 1, 0)


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# Tried in order on the offending line: GB2312 takes only pairs of high bytes (common Chinese),
# so Latin text falls through to Windows-1252; GB18030 catches the rarer Chinese characters.
_GUESSES = (
    ("gb2312", "GBK/GB18030 (Chinese Windows)", re.compile(r"[\u3400-\u9fff]")),
    ("cp1252", "Windows-1252 (Western European)", re.compile(r"[À-ÿ€]")),
    ("gb18030", "GBK/GB18030 (Chinese Windows)", re.compile(r"[\u3400-\u9fff]")),
)


def _encoding_error(data: bytes, label: str, header: list[str]) -> LoadError:
    """Where the first byte that is not UTF-8 sits, and what encoding the line looks like."""
    try:
        data.decode("utf-8")
        return LoadError(label, "cannot be parsed as CSV (the text is UTF-8 after all)", kind=Kind.CSV_SYNTAX)
    except UnicodeDecodeError as exc:
        at = exc.start
    number = data.count(b"\n", 0, at) + 1
    begin = data.rfind(b"\n", 0, at) + 1
    end = data.find(b"\n", at)
    raw = data[begin : len(data) if end < 0 else end].rstrip(b"\r")
    if number == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    guess = ""
    for codec, name, script in _GUESSES:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if script.search(text):
            if number > 1:
                cells = _cells(text)
                cell = cells[min(_cell_index(raw.decode("latin-1"), at - begin), len(cells) - 1)]
                guess = f"; it looks encoded in {name}: the cell reads {cell!r} in that encoding"
            else:
                guess = f"; it looks encoded in {name}: the header reads {_short(text)!r} in that encoding"
            break
    column = None
    if number > 1 and header:
        column = header[min(_cell_index(raw.decode("latin-1"), at - begin), len(header) - 1)]
    return LoadError(
        label,
        f"expected UTF-8 text, found byte 0x{data[at]:02X} at byte offset {at}, which is not UTF-8"
        f"{guess}; save the file as 'CSV UTF-8'",
        number,
        column,
        kind=Kind.ENCODING,
    )


# ---------------------------------------------------------------------------------------------
# the cells


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


_MISSING = {
    "na", "n/a", "n.a.", "n.a", "#n/a", "nil", "null", "none", "missing", "unknown",
    "-", "--", "---", "–", "—", "?", ".", "..", "...", "x",
}  # fmt: skip
_NON_FINITE = {"nan", "-nan", "+nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?P<sep>[,  '\u00a0\u202f\u2009])\d{3}(?:(?P=sep)\d{3})*(?:\.\d+)?")
_EURO_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
# A number with one short word or symbol before or after it ('see note 3' is just text).
_WITH_UNIT = re.compile(
    r"(?P<pre>[^\d\s+\-.,][^\d\s]{0,11})?\s*"  # 'USD ', '¥', 'RMB'
    r"(?P<num>[+-]?(?:\d[\d,.'\u00a0 ]*)?\d(?:\.\d+)?)"
    r"\s*(?P<post>[^\d\s][^\d\s]{0,11})?"  # ' CNY', '%', '万元', ' t/year'
)
_SPREADSHEET_ERRORS = {"#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!", "#error!", "#####"}


def classify_number(value: str, kind: str = "float") -> tuple[Kind, str]:
    """The kind of a cell that is not a valid number, and the message that says why."""
    whole = kind == "int"
    expected = "a whole number" if whole else "a number"
    found = f"expected {expected}, found {value!r}"
    empty_hint = "this column requires a value" if whole else "leave the cell empty for a missing value"
    low = value.casefold()
    if value == "":
        return Kind.EMPTY_CELL, f"expected {expected}, found an empty cell: this column requires a value"
    if low in _MISSING:
        return Kind.MISSING_MARKER, f"{found}: an explicit missing marker; {empty_hint}"
    if low in _NON_FINITE:
        return Kind.NOT_FINITE, f"expected a finite number, found {value!r}: not a value; {empty_hint}"
    if low in _SPREADSHEET_ERRORS:
        return Kind.NOT_A_NUMBER, f"{found}: a spreadsheet error value; fix the formula or enter the number"
    if m := _THOUSANDS.fullmatch(value):
        sep = {",": "','", "'": '"\'"'}.get(m["sep"], "a space")
        plain = re.sub(r"[,  '\u00a0\u202f\u2009]", "", value)
        comma = m["sep"] == "," and value.count(",") == 1 and "." not in value
        alternative = f" (or, if ',' is a decimal comma, {value.replace(',', '.')})" if comma else ""
        return Kind.THOUSANDS_SEPARATOR, f"{found}: {sep} groups thousands; write {plain}{alternative}"
    if _EURO_THOUSANDS.fullmatch(value):
        plain = value.replace(".", "").replace(",", ".")
        return (
            Kind.THOUSANDS_SEPARATOR,
            f"{found}: '.' groups thousands (and ',' is a decimal comma); write {plain}",
        )
    if _DECIMAL_COMMA.fullmatch(value):
        return (
            Kind.DECIMAL_COMMA,
            f"{found}: the decimal separator is the dot; write {value.replace(',', '.')}",
        )
    if (m := _WITH_UNIT.fullmatch(value)) and (m["pre"] or m["post"]):
        unit = " ".join(p.strip() for p in (m["pre"], m["post"]) if p)
        return Kind.UNIT_IN_CELL, (
            f"{found}: {unit!r} beside the number; write the bare number ({m['num'].strip()}) in the "
            "column's unit, with no units, currency or % in the cell"
        )
    folded = unicodedata.normalize("NFKC", value)
    if folded != value and not pd.isna(pd.to_numeric(folded, errors="coerce")):
        return Kind.NOT_A_NUMBER, f"{found}: full-width characters; write {folded}"
    number = pd.to_numeric(value, errors="coerce")
    if whole and not pd.isna(number) and np.isfinite(number):
        return Kind.NOT_AN_INTEGER, f"{found}: a fraction where a whole number is expected"
    return Kind.NOT_A_NUMBER, found


_YEAR_FIRST = (
    (r"(\d{4})/(\d{1,2})/(\d{1,2})", "YYYY/MM/DD"),
    (r"(\d{4})\.(\d{1,2})\.(\d{1,2})", "YYYY.MM.DD"),
    (r"(\d{4})(\d{2})(\d{2})", "YYYYMMDD"),
    (r"(\d{4})年(\d{1,2})月(\d{1,2})日", "YYYY年M月D日"),
)
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
)}  # fmt: skip


def classify_date(value: str, required: bool = True) -> tuple[Kind, str]:
    """The kind of a cell that is not a valid YYYY-MM-DD date, and the message that says why."""
    found = f"expected a date YYYY-MM-DD, found {value!r}"
    if value == "":
        return Kind.EMPTY_CELL, "expected a date YYYY-MM-DD, found an empty cell: this column requires a date"
    if value.casefold() in _MISSING:
        return (
            Kind.MISSING_MARKER,
            f"{found}: an explicit missing marker; "
            + ("this column requires a date" if required else "leave the cell empty instead"),
        )
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return Kind.INVALID_DATE, f"{found}: there is no such day"
    form, day = _date_form(value)
    if form is None:
        return Kind.DATE_FORMAT, found
    write = f"; write {day.isoformat()}" if isinstance(day, date) else (f"; {day}" if day else "")
    return Kind.DATE_FORMAT, f"{found}, a date written {form}{write}"


def _date_form(value: str) -> tuple[str | None, date | str | None]:
    """(how the date is written, the date or a note) for the formats people use instead of ISO."""

    def make(y: str | int, mo: str | int, d: str | int) -> date | None:
        try:
            return date(int(y), int(mo), int(d))
        except ValueError:
            return None

    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?", value):
        return "with a time of day", make(*m.groups()[:3])
    for pattern, form in _YEAR_FIRST:
        if m := re.fullmatch(pattern, value):
            return form, make(*m.groups())
    if m := re.fullmatch(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})", value):
        a, sep, b, y = m.groups()
        if int(a) > 12:
            return f"DD{sep}MM{sep}YYYY", make(y, b, a)
        if int(b) > 12:
            return f"MM{sep}DD{sep}YYYY", make(y, a, b)
        first, second = make(y, b, a), make(y, a, b)
        if first and second and first != second:
            note = f"{first.isoformat()} or {second.isoformat()}? write it as YYYY-MM-DD"
            return f"DD{sep}MM{sep}YYYY or MM{sep}DD{sep}YYYY (ambiguous)", note
        return f"DD{sep}MM{sep}YYYY", first
    if m := re.fullmatch(r"(\d{1,2})[ -]([A-Za-z]{3,9})\.?[ ,-]*(\d{4})", value):
        month = _MONTHS.get(m[2][:3].casefold())
        return ("D Mon YYYY", make(m[3], month, m[1])) if month else (None, None)
    if m := re.fullmatch(r"([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})", value):
        month = _MONTHS.get(m[1][:3].casefold())
        return ("Mon D, YYYY", make(m[3], month, m[2])) if month else (None, None)
    if re.fullmatch(r"\d{5}(\.0+)?", value) and 20000 <= float(value) <= 80000:
        return "as a spreadsheet serial number", date(1899, 12, 30) + timedelta(days=int(float(value)))
    return None, None


# ---------------------------------------------------------------------------------------------
# Excel workbooks: found by check_folder, or saved under a .csv name

_XL = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CELL = re.compile(r"([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?")


def _xlsx_merged_header(data: bytes) -> list[tuple[str, int, list[str]]] | None:
    """[(sheet, header row, merged ranges in it)] of an XLSX; [] if none is merged, None if not an XLSX.

    Reads the workbook's XML with the standard library (no spreadsheet package needed). The
    header row of a sheet is its first row with a value; a merged range counts when it spans
    that row.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            if "xl/workbook.xml" not in book.namelist():
                return None
            strings = _shared_strings(book)
            relations = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
            targets = {r.get("Id"): r.get("Target", "") for r in relations.iter(f"{_PKG_REL}Relationship")}
            found = []
            for sheet in ElementTree.fromstring(book.read("xl/workbook.xml")).iter(f"{_XL}sheet"):
                target = targets.get(sheet.get(f"{_REL}id"), "")
                part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                root = ElementTree.fromstring(book.read(part))
                rows = [
                    int(r.get("r", 0))
                    for r in root.iter(f"{_XL}row")
                    if any(_cell_text(c, strings) for c in r)
                ]
                header = min(rows, default=1)
                ranges = []
                for merge in root.iter(f"{_XL}mergeCell"):
                    m = _CELL.fullmatch(merge.get("ref", ""))
                    if m and int(m[2]) <= header <= int(m[4] or m[2]):
                        ranges.append(merge.get("ref") + _range_label(root, m[1] + m[2], strings))
                if ranges:
                    found.append((sheet.get("name", "?"), header, ranges))
            return found
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, ValueError):
        return None


def _shared_strings(book: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in book.namelist():
        return []
    root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
    return ["".join(t.text or "" for t in si.iter(f"{_XL}t")) for si in root.iter(f"{_XL}si")]


def _cell_text(cell: ElementTree.Element, strings: list[str]) -> str:
    if cell.get("t") == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{_XL}t"))
    value = cell.find(f"{_XL}v")
    if value is None or value.text is None:
        return ""
    return strings[int(value.text)] if cell.get("t") == "s" else value.text


def _range_label(root: ElementTree.Element, ref: str, strings: list[str]) -> str:
    for cell in root.iter(f"{_XL}c"):
        if cell.get("r") == ref:
            text = _cell_text(cell, strings)
            return f" ({text!r})" if text else ""
    return ""


def _merged_header_error(file: str, merged: list[tuple[str, int, list[str]]]) -> LoadError:
    sheet, row, ranges = merged[0]
    return LoadError(
        file,
        f"expected one header row of plain column names, found an Excel workbook whose header row "
        f"(sheet {sheet!r}, row {row}) has merged cells {', '.join(ranges)}: unmerge them, give every "
        "column its contract name, and export the sheet as 'CSV UTF-8 (Comma delimited)'",
        row,
        kind=Kind.XLSX_MERGED_HEADER,
    )
