"""What exactly is wrong with a raw CSV file: the byte, header and line detective work.

`tasks.quality.load.read_csv` calls the cheap checks on every file, before pyarrow reads it:
`check_bytes` (not text, a workbook, UTF-16, bare CR line endings), `check_header` (another
delimiter, missing, renamed, extra or duplicate columns, no data rows) and `check_empty_rows`
(rows of empty cells); they look only at the first bytes or scan the bytes once. `diagnose`
runs only after pyarrow refused the file or its rows did not match its lines: it decodes the
whole file and walks it line by line to name the first bad line (blank, ragged, truncated, a
line break in a cell, an encoding error with a guess at the encoding used).
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from collections.abc import Mapping

from tasks.quality.load_errors import Kind, LoadError
from tasks.quality.workbook import merged_header_error, xlsx_merged_header

# ---------------------------------------------------------------------------------------------
# the file and the header: cheap checks on the first bytes

_BOM = b"\xef\xbb\xbf"
_NOT_SPACE = re.compile(rb"[^\s]")


def check_bytes(data: bytes, label: str) -> int:
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
        merged = xlsx_merged_header(data)
        if merged:
            raise merged_header_error(label, merged)
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


def check_header(
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


def check_empty_rows(data: bytes, header_end: int, width: int, label: str) -> None:
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


# ---------------------------------------------------------------------------------------------
# the lines: only after pyarrow refused the file or its rows do not match its lines


def diagnose(data: bytes, start: int, label: str, header: list[str], parser: str) -> LoadError:
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
