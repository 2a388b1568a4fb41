"""Validated ingest of one customs trade file, batch by batch, into clean facts in CNY.

A file is read in record batches (`tasks.trade.stream`), each batch is validated with the
``trade_records`` GX suite on its distinct values (`tasks.quality.distinct`), its bad rows are set
aside (`tasks.quality.quarantine`), the rest converted to CNY and written at once as Parquet under
``facts/year=YYYY/month=MM/``. What stays in memory across batches is small: the per-batch
aggregates (city x partner x flow) and the quarantined rows.

The quarantine share is decided per file, when the file is done (a file is one month: a
broken month must not hide behind good batches). A file over the share, or with a
table-level failure, is *blocked*: its parts are deleted and the caller publishes nothing.

Duplicate keys across batch boundaries are found with a ledger of the keys seen so far, held
on disk (GX sees one batch at a time; `tasks.trade.ledger`); every row of a duplicated key is
quarantined, as within a batch, which means rewriting the parts that already hold the first
row (rare, and bounded by a part).

`ingest_file` (driven by `tasks.trade.ingest`) is a plain function on paths: Prefect tasks,
process pools and Dask workers all call it, so every runner writes the same bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.quality import load
from tasks.quality.distinct import validate_distinct
from tasks.quality.quarantine import over_share_note, stack_quarantined, triage
from tasks.quality.results import merge_results, results_table
from tasks.quality.suites import expected_text, load_suite
from tasks.quality.validation import Failure, SuiteOutcome
from tasks.trade import stream
from tasks.trade.aggregates import aggregate, combine, empty_aggregates, period_part
from tasks.trade.ledger import KeyLedger

DATASET = "trade_records"
# Facts as the edition publishes them; year and month are the partition folders.
_TEXT = pa.dictionary(pa.int32(), pa.string())  # small, and fast to group
FACT_SCHEMA = pa.schema(
    [(c, _TEXT) for c in ("period", "reporter_city", "partner", "flow", "hs2")]
    + [("value", pa.float64()), ("currency", _TEXT), ("cny_per_unit", pa.float64()),
       ("value_cny", pa.float64()), ("source_file", _TEXT), ("source_line", pa.int64())]
)  # fmt: skip
_TEXT_COLUMNS = [f.name for f in FACT_SCHEMA if f.type == _TEXT]
# One row per year, month, city, partner and flow of a file: enough for every trade figure.


@dataclass(frozen=True)
class References:
    """What validating and converting a trade file needs: small and picklable for workers."""

    parameters: dict[str, list[str]]  # known_cities, member_keys, fx_keys for the suite
    rates: dict[str, float]  # "year:CUR" -> CNY per unit, CNY included
    max_share: float  # quality.quarantine_max_share
    fingerprint: str  # changes when anything that decides the output changes
    suites: Path  # the GX suites' folder (Catalog.expectations)
    checked: str = ""  # the key of the reference tables' own checks, which passed (`tasks.trade.references`)


@dataclass(frozen=True)
class FileJob:
    """One raw file to ingest: where it is, how messages name it, its id in the store."""

    path: Path
    label: str  # e.g. raw/trade/2018/2018-01.csv
    key: str  # e.g. 2018/2018-01.csv
    checksum: str
    # size, mtime_ns, hashed_ns (`tasks.trade.ingest`); not hashed, so that a job stays hashable
    seen: dict[str, int] = field(default_factory=dict, hash=False)


@dataclass
class FileIngest:
    """What one file gave: counts, the files written (relative to the version), its quality."""

    key: str
    label: str
    checksum: str
    rows_in: int = 0
    rows_clean: int = 0
    rows_quarantined: int = 0
    parts: list[str] = field(default_factory=list)
    aggregates: pd.DataFrame = field(default_factory=lambda: empty_aggregates())
    results: pd.DataFrame = field(default_factory=lambda: results_table([]))
    quarantine: pd.DataFrame = field(default_factory=lambda: stack_quarantined([]))
    blocking: list[Failure] = field(default_factory=list)
    gx_results: list[dict] = field(default_factory=list)  # each batch's Data Docs page (docs_pages)
    error: load.LoadError | None = None  # a malformed file
    missing_rates: dict[str, tuple[int, int]] = field(default_factory=dict)  # fx_key -> (first line, rows)
    entry: dict | None = None  # once written to the store: its manifest entry (`tasks.trade.ingest`)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.blocking and self.error is None


def ingest_file(
    job: FileJob, references: References, version: Path, block_bytes: int = stream.BLOCK_BYTES
) -> FileIngest:
    """Read, validate, quarantine, convert and write one raw file into the `version` folder."""
    started = time.perf_counter()
    use_system_allocator()
    out = FileIngest(job.key, job.label, job.checksum)
    unique = _unique_key(load_suite(DATASET, references.suites))
    ledger = KeyLedger(list(unique["kwargs"]["column_list"]) if unique else [])
    outcomes: list[SuiteOutcome] = []
    running = empty_aggregates()  # the file's sums so far
    quarantined: list[pd.DataFrame] = []
    try:
        for number, batch in enumerate(
            stream.read_batches(job.path, load.TRADE_RECORDS, job.label, block_bytes)
        ):
            out.rows_in += len(batch)
            last = batch.attrs[stream.LAST]
            batch = with_cny(with_keys(batch), references.rates)
            outcome = validate_distinct(batch, DATASET, references.parameters, suites=references.suites)
            outcomes.append(outcome)
            _count_missing_rates(batch, references.rates, out.missing_rates)
            checked = triage(batch, outcome, 1.0)  # the file's share is decided at its end
            del batch  # the clean rows are a copy when rows were set aside: one copy at a time
            out.blocking += checked.blocking
            if checked.blocking:
                break
            clean, repeated = ledger.admit(checked.clean, remember=not last)
            quarantined += [checked.quarantined, _duplicate_rows(repeated, unique)]
            del checked, repeated
            facts = to_cny(clean, references.rates)
            del clean
            out.parts += write_parts(facts, version, job.key, number)
            running = combine([running, aggregate(facts)])
            del facts
            _release_memory()
    except load.LoadError as error:
        out.error = error
    finally:
        ledger.close()  # the keys held on disk; `_drop_keys` needs only the duplicates
    if ledger.duplicates and out.ok:
        first_rows, rebuilt = _drop_keys(version, out.parts, ledger)
        running = combine(rebuilt)
        quarantined.append(_duplicate_rows(first_rows, unique))
    out.results = _file_results(outcomes, ledger.duplicates)
    out.gx_results = [page for o in outcomes for _, page in o.pages]
    out.quarantine = stack_quarantined(quarantined)
    out.rows_quarantined = int(out.quarantine[["file", "line"]].drop_duplicates().shape[0])
    out.rows_clean = out.rows_in - out.rows_quarantined
    limit = references.max_share * out.rows_in * (1 + 1e-9)
    if out.ok and out.rows_quarantined > limit:
        out.blocking = _over_share(out, references.max_share)
    if not out.ok:
        for part in out.parts:
            (version / part).unlink(missing_ok=True)
        out.parts = []
    else:
        out.aggregates = running
    out.seconds = time.perf_counter() - started
    return out


def with_keys(batch: pd.DataFrame) -> pd.DataFrame:
    """Add `year`, and the `member_key`/`fx_key` ("year:code") the suite checks partners and
    currencies with; built on the distinct values, so they stay categorical."""
    batch = batch.assign(year=period_part(batch["period"], slice(0, 4)))
    batch["member_key"] = _joined(batch["year"], batch["partner"])
    batch["fx_key"] = _joined(batch["year"], batch["currency"])
    return batch


def with_cny(records: pd.DataFrame, rates: dict[str, float]) -> pd.DataFrame:
    """`cny_per_unit` and `value_cny` of each record, missing where its fx_key has no rate: the
    suite bounds a row's worth in CNY (a plausibility rule), so they exist before validation."""
    keys = records["fx_key"].astype("category")
    per_key = np.array([rates.get(k, np.nan) for k in keys.cat.categories] + [np.nan])
    rate = per_key[keys.cat.codes.to_numpy()]
    return records.assign(cny_per_unit=rate, value_cny=records["value"].to_numpy() * rate)


def to_cny(records: pd.DataFrame, rates: dict[str, float]) -> pd.DataFrame:
    """`cny_per_unit` and `value_cny` of validated records (their fx_key has a rate)."""
    records = with_cny(records, rates)
    missing = records["cny_per_unit"].isna().to_numpy()
    if missing.any():
        row = records[missing].iloc[0]
        raise ValueError(f"{row['source_file']}, line {row['source_line']}: no FX rate for {row['fx_key']}")
    return records


def _count_missing_rates(
    batch: pd.DataFrame, rates: dict[str, float], seen: dict[str, tuple[int, int]]
) -> None:
    """The well-formed "year:CUR" keys of the batch that fx_rates.csv has no rate for: when a whole
    month lacks its rate, the file to fix is fx_rates.csv, not the month (`tasks.trade.ingest`)."""
    keys = batch["fx_key"].astype("category")
    wanted = [k for k in keys.cat.categories if k not in rates and re.fullmatch(r"[0-9]{4}:[A-Z]{3}", k)]
    for key in wanted:
        lines = batch["source_line"].to_numpy()[(keys == key).to_numpy()]
        first, rows = seen.get(key, (int(lines[0]), 0))
        seen[key] = (first, rows + len(lines))


def write_parts(facts: pd.DataFrame, version: Path, key: str, number: int) -> list[str]:
    """One Parquet part per (year, month) of the batch; returns their paths in `version`."""
    parts = []
    partition = facts["year"].to_numpy() * 100 + period_part(facts["period"], slice(5, 7))
    for value in np.unique(partition):
        rows = facts if (partition == value).all() else facts[partition == value]
        relative = f"facts/year={value // 100}/month={value % 100:02d}/{_file_id(key)}-{number:04d}.parquet"
        target = version / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_facts(rows, target)
        parts.append(relative)
    return parts


def _unique_key(spec: dict) -> dict | None:
    """The suite's compound-unique expectation (GX checks it within each batch), if any."""
    return next(
        (e for e in spec["expectations"] if e["type"] == "expect_compound_columns_to_be_unique"), None
    )


def _duplicate_rows(rows: pd.DataFrame, exp: dict | None) -> pd.DataFrame:
    """Quarantine entries for rows whose key appeared in an earlier batch of the file."""
    if rows.empty or exp is None:
        return stack_quarantined([])  # not `rows[:0]`: a view would keep its batch alive
    columns = list(exp["kwargs"]["column_list"])
    return pd.DataFrame(
        {
            "dataset": DATASET,
            "file": rows["source_file"].astype("str").to_numpy(),
            "line": rows["source_line"].to_numpy(),
            "column": ", ".join(columns),
            "value": rows[columns].astype("str").agg(", ".join, axis=1).to_numpy(),
            "expectation": exp["type"],
            "expected": expected_text(exp),
            "severity": exp["meta"]["severity"],
        }
    )


def _drop_keys(version: Path, parts: list[str], ledger: KeyLedger) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Take the earlier rows of keys repeated in later batches out of the written parts (rare:
    the later rows were never written); returns those rows and the file's rebuilt aggregates."""
    duplicates = np.fromiter(ledger.duplicates, dtype="int64")
    removed, aggregates = [], []
    for part in parts:
        path = version / part
        facts = pq.read_table(path).to_pandas()
        facts["year"] = pd.to_numeric(facts["period"].astype("str").str[:4]).astype("int64")
        repeated = np.isin(ledger.keys(facts), duplicates)
        if repeated.any():
            removed.append(facts[repeated])
            facts = facts[~repeated]
            _write_facts(facts, path)
        aggregates.append(aggregate(facts))
    rows = pd.concat(removed, ignore_index=True) if removed else pd.DataFrame()
    return rows, aggregates


def _file_results(outcomes: list[SuiteOutcome], duplicates: set[int]) -> pd.DataFrame:
    """One row per expectation for the whole file: counts summed over its batches."""
    table = results_table(outcomes)
    if table.empty:
        return table
    merged = merge_results(table)
    if duplicates:
        unique = merged["expectation"] == "expect_compound_columns_to_be_unique"
        merged.loc[unique, "success"] = False
        merged.loc[unique, "unexpected_count"] += len(duplicates)
    return merged


def _over_share(out: FileIngest, max_share: float) -> list[Failure]:
    """One blocking failure per failed expectation of a file with too many bad rows."""
    note = over_share_note(out.rows_quarantined, out.rows_in, max_share)
    failures = []
    for (expectation, column, expected), rows in out.quarantine.groupby(
        ["expectation", "column", "expected"], sort=False, dropna=False
    ):
        examples = [(out.label, int(r.line), r.value) for r in rows.head(5).itertuples()]
        failures.append(
            Failure(
                DATASET,
                str(expectation),
                str(column),
                "critical",
                len(rows),
                examples,
                str(expected),
                row_level=True,
                note=note,
            )  # fmt: skip
        )
    return failures


def _write_facts(rows: pd.DataFrame, path: Path) -> None:
    """Snappy (fast: facts are big), dictionary pages for the text only: dictionary-encoding
    the near-unique numbers took 40 % of the write for no smaller file."""
    pq.write_table(_fact_table(rows), path, compression="snappy", use_dictionary=_TEXT_COLUMNS)


def _fact_table(rows: pd.DataFrame) -> pa.Table:
    """Facts in `FACT_SCHEMA`, text written straight from the categories: the text of a row is
    never materialised."""
    columns = {}
    for name, kind in zip(FACT_SCHEMA.names, FACT_SCHEMA.types, strict=True):
        if kind == _TEXT:
            values = rows[name].astype("category")
            columns[name] = pa.DictionaryArray.from_arrays(
                pa.array(values.cat.codes.to_numpy().astype("int32"), mask=values.isna().to_numpy()),
                pa.array(values.cat.categories.astype("object").to_numpy(), pa.string()),
            )
        else:
            columns[name] = pa.array(rows[name].to_numpy(), kind)
    return pa.table(columns, schema=FACT_SCHEMA)


def _joined(year: pd.Series, codes: pd.Series) -> pd.Categorical:
    """The "year:code" text of each row, the text built once per distinct (year, code) pair."""
    codes = codes.astype("category")
    year_codes, years = pd.factorize(year.to_numpy())
    width = len(codes.cat.categories) + 1
    pair, uniques = pd.factorize(year_codes.astype("int64") * width + codes.cat.codes.to_numpy() + 1)
    names = np.append(codes.cat.categories.to_numpy(dtype=object), "")
    labels = pd.Index([f"{years[u // width]}:{names[u % width - 1]}" for u in uniques], dtype="str")
    remap, distinct = pd.factorize(labels)  # "" and a missing code read the same
    return pd.Categorical.from_codes(remap[pair], categories=distinct)


def use_system_allocator() -> None:
    """Arrow allocates with the C library's malloc in this process, as numpy and pandas do (the
    earlier the better: what the default pool holds stays with it). Measured on 10 M and 50 M
    rows: with Arrow's default (mimalloc) a worker's RSS crept ~30 MB over the batches of one
    file and peaked ~50 MB higher, and the ingest was no faster."""
    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def _release_memory() -> None:
    """Hand freed heap back to the OS after a batch (glibc and Arrow's allocator keep it
    otherwise, and a worker's RSS creeps up with the batches it has seen, not their size)."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _file_id(key: str) -> str:
    return key.replace("/", "_")
