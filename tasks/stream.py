"""Read a raw trade file in record batches: memory depends on the batch, not on the file.

Customs files run to millions of rows, so a file is never read whole on the happy path: its
first bytes are checked like any raw file (encoding, delimiter, header: `tasks.diagnose`),
then pyarrow's streaming CSV reader hands over one block at a time. Each batch comes out as
`tasks.load.read_csv` would type it, except that text columns are pandas ``category``: codes
over a few distinct values are smaller than strings, and the validation and aggregation run
on the distinct values (see `tasks.distinct`).

When anything looks wrong (pyarrow refuses a block, a cell is not a number, a row of empty
cells), the file is handed to `tasks.load.read_csv`, whose diagnosis names the kind, line and
column. That reads the whole file, but only for a file that stops the run anyway.

Accepted: ``.csv``, ``.csv.gz`` (decompressed while streaming) and ``.parquet`` (its row
groups; ``source_line`` is then the row number plus one, as if the file had a header line).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tasks import load
from tasks.catalog import TRADE_SUFFIXES
from tasks.diagnose import check_bytes, check_header
from tasks.load_errors import Kind, LoadError

BLOCK_BYTES = 32 << 20  # ~700k customs rows per CSV block
PARQUET_ROWS = 500_000
_HEAD_BYTES = 1 << 16


class _Unusual(Exception):
    """The fast path met something it does not explain; the whole-file diagnosis will."""


def raw_suffix(path: Path) -> str | None:
    """The accepted suffix of `path` (".csv", ".csv.gz", ".parquet"), or None."""
    name = path.name.lower()
    return next((s for s in TRADE_SUFFIXES if name.endswith(s)), None)


def read_batches(
    path: Path,
    columns: Mapping[str, str],
    label: str | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[pd.DataFrame]:
    """Typed batches of one raw file with `source_file`/`source_line`; text as ``category``.

    Raises `LoadError` for a malformed file, possibly after some batches were yielded: callers
    must treat the file's batches as provisional until the iterator is exhausted.
    """
    label = label or path.as_posix()
    suffix = raw_suffix(path)
    if suffix is None:
        raise LoadError(label, f"expected one of {', '.join(TRADE_SUFFIXES)}", kind=Kind.UNSUPPORTED_FILE)
    batches = (
        _parquet_tables(path, label, columns)
        if suffix == ".parquet"
        else _csv_tables(path, label, columns, block_bytes)
    )
    first_line = 2
    try:
        for table in _drop_trailing_blank_rows(batches):
            frame = _typed(table, columns, label, first_line)
            first_line += len(frame)
            yield frame
    except (_Unusual, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if suffix == ".parquet":
            raise LoadError(label, f"expected a readable Parquet file, found: {exc}") from exc
        load.read_csv(path, columns, label)  # raises the located LoadError
        raise LoadError(label, f"could not be read in batches: {exc}") from exc


def _csv_tables(path: Path, label: str, columns: Mapping[str, str], block_bytes: int) -> Iterator[pa.Table]:
    """The file's data lines in blocks of about `block_bytes`, cut at line ends, each parsed
    by pyarrow (multithreaded). pyarrow's own streaming reader reads far ahead, holding most
    of a big file in memory; here only one block is ever held."""
    with pa.input_stream(path, compression="detect") as stream:
        head = stream.read(_HEAD_BYTES)
    if head.startswith(b"PK\x03\x04"):
        head = load.raw_bytes(path)  # a workbook under a .csv name: check_bytes names it
    start = check_bytes(head, label)
    header, header_end = check_header(head, start, label, columns, {})
    options = {
        "read_options": pacsv.ReadOptions(encoding="utf8", column_names=header),
        "parse_options": pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
        "convert_options": pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }
    with pa.input_stream(path, compression="detect") as stream:
        stream.read(header_end + 1)  # the header line
        pending = b""
        while block := stream.read(block_bytes):
            data = pending + block
            cut = data.rfind(b"\n") + 1
            pending, data = data[cut:], data[:cut]
            if data:
                yield pacsv.read_csv(pa.py_buffer(data), **options)
        if pending.strip(b"\r\n"):  # a last line without its newline
            yield pacsv.read_csv(pa.py_buffer(pending), **options)


def _parquet_tables(path: Path, label: str, columns: Mapping[str, str]) -> Iterator[pa.Table]:
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise LoadError(label, f"expected a Parquet file, found one pyarrow cannot open: {exc}") from exc
    names = file.schema_arrow.names
    header_line = (",".join(names) + "\n").encode()
    check_header(header_line + b"-\n", 0, label, columns, {})  # same column rules as a CSV header
    for batch in file.iter_batches(batch_size=PARQUET_ROWS, columns=list(columns)):
        table = pa.Table.from_batches([batch])
        yield pa.table({n: _as_text(table.column(n)) for n in table.column_names})


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Parquet columns as the CSV reader's text (missing = ""), so both take one typed path."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return pc.fill_null(column, "")


def _drop_trailing_blank_rows(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """Blank lines at the very end are tolerated (as `load.read_csv` does); elsewhere they are not."""
    pending: pa.Table | None = None
    for table in tables:
        if pending is not None:
            if _blank_rows(pending).any():
                raise _Unusual("a row of empty cells")
            yield pending
        pending = table
    if pending is not None:
        blank = _blank_rows(pending)
        if blank.any():
            keep = int(np.flatnonzero(~blank)[-1]) + 1 if (~blank).any() else 0
            if blank[:keep].any():
                raise _Unusual("a row of empty cells")
            pending = pending.slice(0, keep)
        yield pending


def _blank_rows(table: pa.Table) -> np.ndarray:
    """Rows whose cells are all empty: a blank line or a blank spreadsheet row."""
    blank = None
    for column in table.columns:
        empty = pc.equal(pc.fill_null(column, ""), "")
        blank = empty if blank is None else pc.and_(blank, empty)
    return np.zeros(0, bool) if blank is None else blank.to_numpy(zero_copy_only=False)


def _typed(table: pa.Table, columns: Mapping[str, str], label: str, first_line: int) -> pd.DataFrame:
    """One batch typed per the contract: text as categories (stripped), numbers as float/int."""
    out: dict[str, pd.Series | pd.Categorical | np.ndarray] = {}
    for column, kind in columns.items():
        arrow = table.column(column)
        if kind == "str":
            out[column] = _category(arrow)
        elif kind in ("int", "float"):
            numbers = load._arrow_numbers(arrow, whole=kind == "int")
            if numbers is None:
                raise _Unusual(f"column {column!r} holds a cell that is not a number")
            out[column] = numbers
        else:
            raise ValueError(f"streamed files have text and number columns only, not {kind!r} ({column})")
    rows = table.num_rows
    frame = pd.DataFrame(out)
    frame["source_file"] = pd.Categorical.from_codes(np.zeros(rows, dtype="int8"), categories=[label])
    frame["source_line"] = np.arange(first_line, first_line + rows, dtype="int64")
    return frame


def _category(arrow: pa.ChunkedArray) -> pd.Categorical:
    """Text as a categorical with stripped, unique categories (strip the few distinct values only)."""
    encoded = pc.dictionary_encode(arrow.combine_chunks())
    values = pd.Index(encoded.dictionary.to_pylist(), dtype="str").str.strip()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype("int32", copy=False)
    remap, unique = pd.factorize(values)
    if len(unique) != len(values):  # "BJS" and "BJS " are one value
        codes = remap[codes].astype("int32")
    return pd.Categorical.from_codes(codes, categories=pd.Index(unique, dtype="str"))
