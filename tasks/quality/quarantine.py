"""Row-level quarantine: set aside the few bad rows of a file, or stop the edition.

`triage` reads one validated frame and its `SuiteOutcome` and decides per source file:

* rows failing a row-level **critical** expectation (bad code, negative value, unparsable
  period, duplicate key ...) are *quarantined* -- removed, and listed with dataset, file,
  line, column, value and the failed expectation -- when their share of the file's rows is at
  most ``max_share`` (the method's ``quality.quarantine_max_share``, 0.1 % by default);
* above that share the file *blocks* the edition: so many bad rows mean a broken file, not a
  few typos, and scoring the rest would hide it;
* table-level critical failures (missing columns, wrong dtype, a check GX could not run)
  always block: they point at no row that could be set aside;
* warnings never remove rows.

Decisions, and why:

* A row failing two expectations is listed twice (a person fixes both cells) but removed once,
  and counted once in its file's share.
* Duplicate keys: every row of a duplicated key is quarantined (all lines, not all but the
  first), as COINr-style pipelines do: nothing tells which line is the right one, and keeping
  the first would silently depend on file order.
* The share is per file (a month of trade records, one reference table), not per dataset:
  one broken file must not hide behind many clean ones.
* ``value`` is text (missing for an empty cell): a column of a Parquet file holds one type,
  and the quarantine mixes numbers, codes and dates.

The function is pure: ``raw/`` and the frame are never modified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tasks.quality.validation import MAX_EXAMPLES, DataValidationError, Failure, SuiteOutcome
from tasks.quality.values import plain

QUARANTINE_COLUMNS: tuple[str, ...] = (
    "dataset",
    "file",
    "line",
    "column",
    "value",
    "expectation",
    "expected",
    "severity",
)
UNKNOWN_FILE = "<unknown file>"


@dataclass(frozen=True)
class Triage:
    """What one dataset's validation means for its rows."""

    dataset: str
    # The rows that proceed: the frame's own index and order, quarantined rows removed.
    clean: pd.DataFrame
    # One row per (row, failed expectation), QUARANTINE_COLUMNS, sorted by file and line.
    quarantined: pd.DataFrame
    # What stops the edition: table-level critical failures, and for each file over the
    # threshold one failure per failed expectation, counted in that file.
    blocking: list[Failure] = field(default_factory=list)
    # How many rows were taken out (a row failing two checks counts once).
    removed: int = 0

    @property
    def blocked(self) -> bool:
        return bool(self.blocking)


def triage(frame: pd.DataFrame, outcome: SuiteOutcome, max_share: float) -> Triage:
    """Split ``frame`` (the frame ``outcome`` validated) into rows that proceed and rows set aside.

    A file whose share of rows failing row-level critical expectations is above ``max_share``
    blocks instead (``max_share=0`` blocks on any bad row); its rows are left in ``clean``
    and not listed in ``quarantined``, since the edition stops anyway.
    """
    if len(frame) != outcome.rows:
        raise ValueError(
            f"{outcome.dataset}: the outcome is of {outcome.rows} rows, the frame has {len(frame)}"
        )
    if not 0.0 <= max_share <= 1.0:
        raise ValueError(f"max_share must be between 0 and 1, got {max_share}")

    blocking = [f for f in outcome.failures if f.severity == "critical" and not f.row_level]
    failed = outcome.failed_rows
    failed = failed[failed["severity"] == "critical"]
    if failed.empty:
        return Triage(outcome.dataset, frame, _quarantine_frame([]), blocking)

    # Files as integer codes: counting per file stays cheap on millions of rows.
    codes, names = _files(frame)
    lines = _lines(frame)
    positions = failed["position"].to_numpy()
    bad = np.zeros(len(frame), dtype=bool)
    bad[positions] = True
    totals = np.bincount(codes, minlength=len(names))
    bad_counts = np.bincount(codes[bad], minlength=len(names))
    # A tiny tolerance so that exactly max_share (e.g. 2 of 2,000 at 0.1 %) is allowed.
    over = bad_counts > totals * max_share * (1 + 1e-9)
    failed_codes = codes[positions]
    for code in sorted(np.flatnonzero(over), key=lambda c: names[c]):
        count, total = int(bad_counts[code]), int(totals[code])
        note = over_share_note(count, total, max_share)
        mine = failed[failed_codes == code]
        blocking += _file_failures(outcome.dataset, mine, names[code], lines, note)

    kept = failed[~over[failed_codes]]
    at = kept["position"].to_numpy()
    quarantined = _quarantine_frame(
        [
            pd.DataFrame(
                {
                    "dataset": outcome.dataset,
                    "file": names[codes[at]],
                    "line": lines[at],
                    "column": kept["column"].to_numpy(),
                    "value": [_text(v) for v in kept["value"]],
                    "expectation": kept["expectation"].to_numpy(),
                    "expected": kept["expected"].to_numpy(),
                    "severity": kept["severity"].to_numpy(),
                }
            )
        ]
    )
    if kept.empty:
        return Triage(outcome.dataset, frame, quarantined, blocking)
    remove = np.zeros(len(frame), dtype=bool)
    remove[at] = True
    return Triage(outcome.dataset, frame[~remove], quarantined, blocking, int(remove.sum()))


def raise_for_blocking(triages: Iterable[Triage]) -> None:
    """Raise one DataValidationError naming everything that blocks, in every dataset."""
    blocking = [f for t in triages for f in t.blocking]
    if blocking:
        raise DataValidationError(blocking)


def quarantine_table(triages: Iterable[Triage]) -> pd.DataFrame:
    """Every dataset's quarantined rows in one table with fixed columns and dtypes."""
    return _quarantine_frame([t.quarantined for t in triages])


def over_share_note(count: int, total: int, max_share: float) -> str:
    """Why a file blocks: its share of bad rows against the share allowed."""
    return (
        f"{count:,} of {total:,} rows ({_percent(count / total)}) of the file failed"
        f" row-level checks, above the {_percent(max_share)} allowed"
    )


def stack_quarantined(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Quarantine tables (of several files or batches) as one, with the same columns and order."""
    return _quarantine_frame(list(parts))


# --- helpers -----------------------------------------------------------------------------


def _quarantine_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Stacked, sorted by dataset, file and line; every column text except ``line``."""
    dtypes = {c: "int64" if c == "line" else "str" for c in QUARANTINE_COLUMNS}
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
    table = pd.concat(parts, ignore_index=True)[list(QUARANTINE_COLUMNS)]
    table = table.sort_values(["dataset", "file", "line"], kind="stable", ignore_index=True)
    return table.astype(dtypes)


def _files(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's file as a code into the array of file names (missing: UNKNOWN_FILE)."""
    codes, names = pd.factorize(frame["source_file"], use_na_sentinel=True)
    names = np.array([*(str(n) if n != "" else UNKNOWN_FILE for n in names), UNKNOWN_FILE], dtype=object)
    return np.where(codes < 0, len(names) - 1, codes), names


def _lines(frame: pd.DataFrame) -> np.ndarray:
    lines = pd.to_numeric(frame["source_line"], errors="coerce")
    return lines.fillna(-1).astype("int64").to_numpy()


def _file_failures(
    dataset: str, failed: pd.DataFrame, file: str, lines: np.ndarray, note: str
) -> list[Failure]:
    """One failure per failed expectation of a blocked file, with its first lines as examples."""
    failures = []
    # Suite order: failed_rows lists the expectations in the order of the suite.
    for (expectation, column, expected), rows in failed.groupby(
        ["expectation", "column", "expected"], sort=False, dropna=False
    ):
        at = rows["position"].to_numpy()
        order = np.argsort(lines[at], kind="stable")[:MAX_EXAMPLES]
        examples = [(file, int(lines[at[i]]), _plain_value(rows["value"].iloc[i])) for i in order]
        failures.append(
            Failure(
                dataset=dataset,
                expectation=str(expectation),
                column=None if pd.isna(column) else str(column),
                severity="critical",
                unexpected_count=len(rows),
                examples=examples,
                expected=str(expected),
                row_level=True,
                note=note,
            )
        )
    return failures


def _plain_value(value: object) -> object:
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return plain(value)


def _text(value: object) -> str | None:
    """A cell as text: None when missing, ISO dates, a tuple's parts joined by ', '."""
    if isinstance(value, tuple):
        return ", ".join("" if (t := _text(v)) is None else t for v in value)
    value = plain(value)
    return None if value is None else str(value)


def _percent(share: float) -> str:
    return f"{share * 100:.3g} %"
