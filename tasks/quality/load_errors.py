"""The errors of the loader: `Kind` (what is wrong with a raw file) and `LoadError`.

They live apart from `tasks.quality.load` so that the modules the loader calls on (`tasks.quality.diagnose`,
`tasks.quality.cells`, `tasks.quality.workbook`) can raise them without importing the loader back. Import them
from `tasks.quality.load`, which re-exports both.
"""

from __future__ import annotations

from enum import StrEnum


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
    CORRUPT_FILE = "corrupt_file"
    """A compressed file (``.csv.gz``) or a Parquet file whose bytes cannot be decoded: cut short
    by an interrupted copy, or damaged."""
    UNREADABLE_FILE = "unreadable_file"
    """The operating system refuses to read the file (permissions): a data error, not retried."""
    OUTSIDE_RAW = "outside_raw"
    """A raw input that is a link to a file outside the raw folder: refused without reading it."""
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
