"""Deterministic Parquet, the one file format every layer writes (engine stages, trade store, editions)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """No index, pandas `str` stored as plain UTF-8 strings, zstd: the same frame gives the same bytes."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema],
        metadata=table.schema.metadata,
    )
    pq.write_table(table.cast(schema), path, compression="zstd")
