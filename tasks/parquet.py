"""Deterministic Parquet, the one file format every layer writes (engine stages, trade store, editions)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(frame: pd.DataFrame, path: Path, float_dictionary: bool = True) -> None:
    """No index, pandas `str` stored as plain UTF-8 strings, zstd: the same frame gives the same bytes.

    `float_dictionary=False` dictionary-encodes only the columns that are not floating point:
    measured values are nearly all distinct, so their dictionary is built only to be dropped
    (the engine's 10,000 x 100 stage tables: 2.6x faster to write and 18 % smaller).
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema],
        metadata=table.schema.metadata,
    )
    dictionary: bool | list[str] = float_dictionary or [
        f.name for f in schema if not pa.types.is_floating(f.type)
    ]
    pq.write_table(table.cast(schema), path, compression="zstd", use_dictionary=dictionary)
