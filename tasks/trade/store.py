"""What an edition reads from the clean trade store: small aggregates, the files' quality, the facts.

An edition never loads trade records whole: the city figures come from the per-file aggregates
(city x partner x flow x month), the checks and quarantined rows from the per-file quality
tables, and the edition's copy of the year's facts is streamed part by part into its folder.
Only the history rule (`tasks.trade.history`) reads the records, nine of their columns.

The view pins one store version (`current_store`) and lists the files it needs from
that version's manifest, so an ingest that publishes a newer version meanwhile changes nothing
for it (versions are pruned only when old enough, see `tasks.trade.ingest`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.quality.docs_pages import merge
from tasks.quality.quarantine import stack_quarantined
from tasks.quality.results import results_table
from tasks.trade.aggregates import aggregate, combine
from tasks.warehouse.catalog import Catalog

# The edition's trade_facts.parquet: the store's facts with their year, text as plain strings.
FACTS_SCHEMA = pa.schema(
    [("period", pa.string()), ("year", pa.int64()), ("reporter_city", pa.string()), ("partner", pa.string()),
     ("flow", pa.string()), ("hs2", pa.string()), ("value", pa.float64()), ("currency", pa.string()),
     ("cny_per_unit", pa.float64()), ("value_cny", pa.float64()), ("source_file", pa.string()),
     ("source_line", pa.int64()), ("edition", pa.int64())]
)  # fmt: skip


def current_store(catalog: Catalog) -> Path | None:
    """The store version published now (resolved once: a reader keeps it), or None."""
    link = catalog.trade_store
    return link.resolve() if link.is_symlink() else None


def published(catalog: Catalog) -> dict[str, Any] | None:
    """The published store's manifest, or None."""
    store = current_store(catalog)
    path = store / "manifest.json" if store else None
    return json.loads(path.read_text()) if path and path.is_file() else None


@dataclass
class TradeView:
    """The trade an edition needs, from one store version."""

    store: Path | None
    years: list[int]  # years with files in the store
    aggregates: pd.DataFrame  # year, month, city_code, partner, flow, value_cny, rows, positive_rows
    results: pd.DataFrame  # validation results, one row per file and expectation (column `file`)
    quarantine: pd.DataFrame  # quarantined rows of those files
    rows: int  # rows read from the files
    parts: dict[int, list[Path]] = field(default_factory=dict)  # facts parts per year
    sources: list[str] = field(default_factory=list)  # the raw files, as labelled in messages
    gx_results: list[tuple[str, dict]] = field(default_factory=list)  # (file, its Data Docs page)
    excluded: dict[str, set[int]] = field(default_factory=dict)  # lines an edition's check set aside, by file


def without(trade: TradeView, rows: pd.DataFrame) -> TradeView:
    """The view without `rows` (records of its facts that an edition's check set aside): their
    sums taken out of the aggregates, their lines left out of the facts the edition writes. The
    store is not changed: another edition reading the same files judges them itself."""
    if rows.empty:
        return trade
    taken = aggregate(rows.reset_index(drop=True))
    taken[["value_cny", "rows", "positive_rows"]] *= -1
    left = combine([trade.aggregates, taken])
    excluded = {file: set(lines) for file, lines in trade.excluded.items()}
    for file, line in zip(rows["source_file"], rows["source_line"], strict=True):
        excluded.setdefault(str(file), set()).add(int(line))
    left = left[left["rows"] > 0].reset_index(drop=True)
    return dataclasses.replace(trade, aggregates=left, excluded=excluded)


def view(catalog: Catalog, years: list[int]) -> TradeView:
    """The store's files of `years` (ingest them first: `tasks.trade.ingest.update_store`); empty when
    there is no store yet (the ingest stopped on a reference table, which validation reports)."""
    store, manifest = current_store(catalog), published(catalog)
    files = manifest["files"] if manifest else {}
    entries = {k: e for k, e in files.items() if int(k[:4]) in years}
    read = lambda kind: [pd.read_parquet(store / e[kind]) for e in entries.values()]  # noqa: E731
    parts: dict[int, list[Path]] = {}
    for entry in entries.values():
        for part in entry["parts"]:  # facts/year=YYYY/month=MM/...: a file's rows may be of other years
            parts.setdefault(int(part.split("/")[1].removeprefix("year=")), []).append(store / part)
    results = read("validation")
    return TradeView(
        store=store,
        years=sorted({int(k[:4]) for k in entries}),
        aggregates=combine(read("aggregates")),
        results=pd.concat(results, ignore_index=True) if results else results_table([]).assign(file=""),
        quarantine=stack_quarantined(read("quarantine")),
        rows=sum(e["rows_in"] for e in entries.values()),
        parts=parts,
        sources=[e["source"] for e in entries.values()],
        gx_results=[
            (e["source"], merge(pages))
            for e in entries.values()
            if (pages := json.loads((store / e["gx_results"]).read_text()))
        ],
    )


def write_facts(trade: TradeView, edition: int, target: Path) -> int:
    """Stream the edition year's facts into one Parquet file, part by part; returns the rows."""
    rows = 0
    with pq.ParquetWriter(target, FACTS_SCHEMA, compression="zstd") as writer:
        for part in trade.parts.get(edition, []):
            table = _kept(pq.read_table(part), trade.excluded)
            constant = pa.array(np.full(table.num_rows, edition, dtype="int64"))
            columns = {
                name: constant if name in ("year", "edition") else pc.cast(table.column(name), field.type)
                for name, field in zip(FACTS_SCHEMA.names, FACTS_SCHEMA, strict=True)
            }
            writer.write_table(pa.table(columns, schema=FACTS_SCHEMA))
            rows += table.num_rows
    return rows


def _kept(table: pa.Table, excluded: dict[str, set[int]]) -> pa.Table:
    """`table` without the excluded lines of its files (all of it when none are excluded)."""
    if not excluded:
        return table
    files, lines = pc.cast(table.column("source_file"), pa.string()), table.column("source_line")
    drop = pa.array(np.zeros(table.num_rows, dtype=bool))
    for file, numbers in excluded.items():
        here = pc.and_(pc.equal(files, file), pc.is_in(lines, pa.array(sorted(numbers), pa.int64())))
        drop = pc.or_(drop, here)
    return table.filter(pc.invert(drop))
