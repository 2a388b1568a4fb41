"""The keys of one file's earlier batches, to find duplicates across batch boundaries.

GX checks a key's uniqueness within a batch; a key repeated in a later batch of the same file
is found here. Each row's key becomes one integer: each key column's values get small stable
ids, packed into 63 bits. The first batch sets each column's width: the bits its values need,
plus an even share of the bits left (the 5 trade columns need ~27 bits: ~7 spare bits each); a
later batch with more values than that re-packs the keys held. A first batch whose keys need
more than 63 bits is hashed instead (64-bit; collisions ~1e-7 for 10 M keys).

The keys held live on disk, not in memory: one sorted run per batch in an anonymous temporary
file, read back in chunks. A worker's memory is then that of one batch however long the file
(held in memory, a 5 M-row month's keys took 40 MB of every worker near the file's end).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

import numpy as np
import pandas as pd

CHUNK_KEYS = 1 << 18  # keys read back at a time: 2 MB


class KeyLedger:
    """Admit a file's batches in order; `duplicates` are the keys found in more than one."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.widths: dict[str, int] = {}
        self.ids: dict[str, dict[str, int]] = {c: {} for c in columns}
        self.duplicates: set[int] = set()
        self.hashed = False
        self.runs: list[tuple[int, int]] = []  # (byte offset, keys) of each batch's sorted run
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> int:
        """How many keys the ledger holds (on disk)."""
        return sum(count for _, count in self.runs)

    def admit(self, clean: pd.DataFrame, remember: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(rows to keep, rows whose key an earlier batch already had); the keys are remembered
        unless this is the file's last batch (a file of one batch needs no ledger at all)."""
        if not self.columns or clean.empty or not (remember or self.runs):
            return clean, clean.iloc[:0].copy()  # a copy: a view of no rows keeps the batch alive
        keys = self.keys(clean)
        order = np.argsort(keys)  # unique within the batch: GX set aside its duplicates
        ordered = keys[order]
        del keys
        earlier = np.zeros(len(ordered), dtype=bool)  # in key order
        for chunk in self._chunks():
            at = np.searchsorted(ordered, chunk)
            inside = at < len(ordered)
            at, chunk = at[inside], chunk[inside]
            earlier[at[ordered[at] == chunk]] = True
        found = bool(earlier.any())
        if remember:
            self._append(ordered[~earlier] if found else ordered)
        if not found:
            return clean, clean.iloc[:0].copy()  # the batch itself: no copy of its rows
        self.duplicates |= set(ordered[earlier].tolist())
        repeated = np.zeros(len(ordered), dtype=bool)
        repeated[order] = earlier
        return clean[~repeated], clean[repeated]

    def keys(self, frame: pd.DataFrame) -> np.ndarray:
        """One int64 per row; the same key always gives the same number within the file."""
        if not self.hashed:
            columns = {c: frame[c].astype("category") for c in self.columns}
            ids = {}
            for column, values in columns.items():
                table = self.ids[column]
                ids[column] = np.array(
                    [table.setdefault(v, len(table)) for v in values.cat.categories], dtype="int64"
                )
            if any(len(t) >= 1 << self.widths.get(c, 0) for c, t in self.ids.items()):
                self._widen()
            if not self.hashed:
                packed = np.zeros(len(frame), dtype="int64")
                for column, values in columns.items():
                    packed = (packed << self.widths[column]) | ids[column][values.cat.codes.to_numpy()]
                return packed
        hashed = pd.util.hash_pandas_object(frame[self.columns], index=False, categorize=True)
        return hashed.to_numpy().view("int64")

    def close(self) -> None:
        """Drop the keys held on disk (the widths and ids stay: `keys` still works)."""
        if self._file is not None:
            self._file.close()
        self._file, self.runs = None, []

    def _append(self, run: np.ndarray) -> None:
        if not len(run):
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="coopindex-keys-")  # noqa: SIM115 (`close`)
        offset = self._file.seek(0, 2)
        self._file.write(memoryview(np.ascontiguousarray(run)))
        self.runs.append((offset, len(run)))

    def _chunks(self) -> Iterator[np.ndarray]:
        """The keys held, a chunk at a time."""
        for offset, count in self.runs:
            for start in range(0, count, CHUNK_KEYS):
                yield _read(self._file, offset + 8 * start, min(CHUNK_KEYS, count - start))

    def _widen(self) -> None:
        """Widths for the values seen so far, and the keys already held re-packed to them (a file
        sorted by city brings most cities after its first batch); hash if 63 bits cannot hold
        the first batch's keys."""
        need = {c: max(len(t), 1).bit_length() for c, t in self.ids.items()}
        spare = 63 - sum(need.values())
        if spare < 0 and (self.runs or self.duplicates):
            raise RuntimeError(f"key columns {self.columns} have too many distinct values in one file")
        if spare < 0:
            self.hashed = True
            return
        widths = {c: n + spare // len(need) for c, n in need.items()}
        if self.widths:  # run by run into a new file: one batch's keys in memory at a time
            old, runs = self._file, self.runs
            self._file, self.runs = None, []
            for offset, count in runs:
                self._append(np.sort(self._repacked(_read(old, offset, count), widths)))
            if old is not None:
                old.close()
            duplicates = np.fromiter(self.duplicates, dtype="int64", count=len(self.duplicates))
            self.duplicates = set(self._repacked(duplicates, widths).tolist())
        self.widths = widths

    def _repacked(self, keys: np.ndarray, widths: dict[str, int]) -> np.ndarray:
        """`keys` packed with the current widths, packed again with `widths`."""
        shift, parts = 0, {}
        for column in reversed(self.columns):
            parts[column] = (keys >> shift) & ((1 << self.widths[column]) - 1)
            shift += self.widths[column]
        packed = np.zeros(len(keys), dtype="int64")
        for column in self.columns:
            packed = (packed << widths[column]) | parts[column]
        return packed


def _read(file: IO[bytes] | None, offset: int, count: int) -> np.ndarray:
    """`count` keys of `file` from byte `offset`."""
    assert file is not None
    file.seek(offset)
    return np.frombuffer(file.read(8 * count), dtype="int64")
