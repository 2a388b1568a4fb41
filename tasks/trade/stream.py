"""Read a raw trade file in record batches: memory depends on the batch, not on the file.

Customs files run to millions of rows, so a file is never read whole on the happy path: its
first bytes are checked like any raw file (encoding, delimiter, header: `tasks.quality.diagnose`),
then the rest is cut into blocks of ~32 MB at line ends (of even size when the file's size is
known: a plain CSV) and pyarrow parses one block at a time, text straight into dictionaries.
Each batch comes out as `tasks.quality.load.read_csv` would type it, except that text columns are
pandas ``category``: codes over a few distinct values are smaller than strings, and the
validation and aggregation run on the distinct values (see `tasks.quality.distinct`). Nothing is read
ahead but one byte (half a block in a compressed file), and nothing of a batch is kept here
while the caller works on it: a worker holds about one batch.

When anything looks wrong (pyarrow refuses a block, a cell is not a number, a row of empty
cells), the file is handed to `tasks.quality.load.read_csv`, whose diagnosis names the kind, line and
column. That reads the whole file, but only for a file that stops the run anyway.

Accepted: ``.csv``, ``.csv.gz`` (decompressed while streaming) and ``.parquet`` (its row
groups; ``source_line`` is then the row number plus one, as if the file had a header line).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tasks.quality import load
from tasks.quality.diagnose import check_bytes, check_header
from tasks.quality.load_errors import Kind, LoadError
from tasks.warehouse.catalog import TRADE_SUFFIXES

BLOCK_BYTES = 32 << 20  # ~700k customs rows per CSV block
LAST = "last_batch"  # in a batch's `attrs`: True on the file's last batch
PARQUET_ROWS = 500_000
_HEAD_BYTES = 1 << 16
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())
_Table = tuple[pa.Table | None, bool]  # a parsed block (None: no rows) and whether it is the last


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
    must treat the file's batches as provisional until the iterator is exhausted. The last
    batch says so (``batch.attrs[LAST]``), known without reading ahead.
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
    first_line, blank_before = 2, False
    try:
        for table, last in batches:
            if table is None:  # no rows at the end, or only line ends
                blank_before = True
                continue
            table, blank_before = _without_blank_rows(table, blank_before)
            box = [_typed(table, columns, label, first_line)]
            del table  # the batch's Arrow table is not needed while the caller works on the frame
            box[0].attrs[LAST] = last
            first_line += len(box[0])
            yield box.pop()  # handed over: this generator keeps no reference to it
    except PermissionError as exc:
        raise load.unreadable(label, exc) from None
    except OSError as exc:
        if exc.errno is not None:  # the system's I/O fault (a busy share): the caller may retry
            raise
        if suffix == ".parquet":  # pyarrow's decoding errors carry no errno
            raise LoadError(
                label, f"expected a readable Parquet file, found: {exc}", kind=Kind.CORRUPT_FILE
            ) from None
        raise load.corrupt_gzip(label, exc) from None
    except (_Unusual, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if suffix == ".parquet":
            raise LoadError(label, f"expected a readable Parquet file, found: {exc}") from exc
        load.read_csv(path, columns, label)  # raises the located LoadError
        raise LoadError(label, f"could not be read in batches: {exc}") from exc


def _csv_tables(path: Path, label: str, columns: Mapping[str, str], block_bytes: int) -> Iterator[_Table]:
    """The file's data lines in blocks of about `block_bytes`, cut at line ends, each parsed
    by pyarrow (multithreaded). pyarrow's own streaming reader reads far ahead, holding most
    of a big file in memory; here only one block is ever held."""
    with pa.input_stream(path, compression="detect") as stream:
        head = stream.read(_HEAD_BYTES)
    if head.startswith(b"PK\x03\x04"):
        head = load.raw_bytes(path, label)  # a workbook under a .csv name: check_bytes names it
    start = check_bytes(head, label)
    header, header_end = check_header(head, start, label, columns, {})
    options = {
        "read_options": pacsv.ReadOptions(encoding="utf8", column_names=header),
        "parse_options": pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
        "convert_options": pacsv.ConvertOptions(
            # text straight into dictionaries: the rows' strings are never built (faster, and
            # ~30 % less memory per batch); numbers as text, parsed by `_typed`
            column_types={c: _DICTIONARY if columns.get(c) == "str" else pa.string() for c in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }
    # Each block reads ahead to see the file's end: a rest shorter than `lookahead` joins the last
    # block. In a compressed file (size unknown) that is half a block, as a batch of its own would
    # cost a whole validation run for a few rows; a plain CSV is cut into even blocks and reads
    # one byte ahead, so that nothing of the next batch is held while the caller works.
    lookahead = block_bytes // 2
    if raw_suffix(path) == ".csv":
        block_bytes, lookahead = _even(path.stat().st_size - header_end - 1, block_bytes), 1
    with pa.input_stream(path, compression="detect") as stream:
        stream.read(header_end + 1)  # the header line
        pending, ahead, last = b"", b"", False
        while not last:
            data = pending + ahead + stream.read(block_bytes - len(ahead))  # one copy of the block
            ahead = stream.read(lookahead)
            last = len(ahead) < lookahead
            if last and ahead:
                data += ahead
            cut = len(data) if last else data.rfind(b"\n") + 1  # the last may lack its newline
            pending = data[cut:]
            box = [memoryview(data)[:cut]]  # no copy
            del data  # while the batch is processed, only the next block's start is held
            if len(box[0]) or last:
                yield _parse(box, options), last


def _even(size: int, block_bytes: int) -> int:
    """The block size for `size` bytes: whole under one and a half blocks (a second batch would
    cost a validation run for a few rows), else cut into the fewest even blocks of at most
    `block_bytes`. No batch of a big file is then bigger than a block (cut at 32 MiB with the
    rest joining the last block, a 112 MB month gave two batches of 34 MB and one of 45 MB;
    now four of 28 MB)."""
    blocks = 1 if 2 * size < 3 * block_bytes else -(-size // block_bytes)
    return -(-size // blocks)


def _parse(box: list[memoryview], options: dict[str, Any]) -> pa.Table | None:
    """The lines in `box` parsed, None if there are none; `box` is emptied, so that once parsed
    nothing holds the raw bytes (a generator keeps its locals while its caller works)."""
    lines = box.pop()
    return pacsv.read_csv(pa.py_buffer(lines), **options) if _has_text(lines) else None


def _has_text(data: memoryview) -> bool:
    """Anything but line ends (without copying a block that starts with text)."""
    return len(data) > 0 and (data[0] not in b"\r\n" or bool(bytes(data).strip(b"\r\n")))


def _parquet_tables(path: Path, label: str, columns: Mapping[str, str]) -> Iterator[_Table]:
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise LoadError(label, f"expected a Parquet file, found one pyarrow cannot open: {exc}") from exc
    names = file.schema_arrow.names
    header_line = (",".join(names) + "\n").encode()
    check_header(header_line + b"-\n", 0, label, columns, {})  # same column rules as a CSV header
    left = file.metadata.num_rows
    if not left:
        yield None, True
    batches = file.iter_batches(batch_size=PARQUET_ROWS, columns=list(columns))
    while (box := [next(batches, None)])[0] is not None:  # the box, as in `_csv_tables`
        left -= box[0].num_rows
        yield _text_table(box.pop()), left <= 0


def _text_table(batch: pa.RecordBatch) -> pa.Table:
    return pa.table({n: _as_text(pa.chunked_array([batch.column(n)])) for n in batch.schema.names})


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Parquet columns as the CSV reader's text (missing = ""), so both take one typed path."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return pc.fill_null(column, "")


def _without_blank_rows(table: pa.Table, blank_before: bool) -> tuple[pa.Table, bool]:
    """The table without its trailing blank rows, and whether it had any. Blank lines at the
    very end of a file are tolerated (as `load.read_csv` does); elsewhere they are not: a row
    after a blank one makes the file unusual. No read-ahead is needed for that."""
    blank = _blank_rows(table)
    if not (blank.any() or blank_before):
        return table, False
    keep = int(np.flatnonzero(~blank)[-1]) + 1 if (~blank).any() else 0
    if blank[:keep].any() or (blank_before and keep):
        raise _Unusual("a row of empty cells")
    return table.slice(0, keep), True


def _blank_rows(table: pa.Table) -> np.ndarray:
    """Rows whose cells are all empty: a blank line or a blank spreadsheet row."""
    if table.num_columns and not pc.any(pc.equal(pc.fill_null(table.column(0), ""), "")).as_py():
        return np.zeros(table.num_rows, bool)  # the usual case, in one column's pass
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
    if pa.types.is_dictionary(arrow.type):  # one dictionary per parsed chunk: unify them
        encoded = arrow.unify_dictionaries().combine_chunks()
    else:
        encoded = pc.dictionary_encode(arrow.combine_chunks())
    values = pd.Index(encoded.dictionary.to_pylist(), dtype="str").str.strip()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype("int32", copy=False)
    remap, unique = pd.factorize(values)
    if len(unique) != len(values):  # "BJS" and "BJS " are one value
        codes = remap[codes].astype("int32")
    return pd.Categorical.from_codes(codes, categories=pd.Index(unique, dtype="str"))
