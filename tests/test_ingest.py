"""The trade ingest end to end on real files: clean facts, quarantine, incremental runs, atomicity."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.quality import load
from tasks.quality.load_errors import Kind
from tasks.quality.validation import DataValidationError
from tasks.trade.figures import city_year_totals
from tasks.trade.fx import to_cny
from tasks.trade.ingest import RACY_NS, update_store
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tasks.warehouse.manifest import sha256
from tests.conftest import tree_digest

MONTHS = ("2018-01", "2018-02", "2018-03")


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    """Reference tables and three months of the shipped sample's 2018 trade records."""
    root = tmp_path / "raw"
    shutil.copytree(PROJECT_ROOT / "raw" / "reference", root / "reference")
    (root / "trade" / "2018").mkdir(parents=True)
    for month in MONTHS:
        shutil.copy(PROJECT_ROOT / "raw" / "trade" / "2018" / f"{month}.csv", root / "trade" / "2018")
    return root


def _records(raw: Path) -> pd.DataFrame:
    files = sorted((raw / "trade" / "2018").glob("*.csv"))
    frame = load.read_many(files, load.TRADE_RECORDS, {})
    return frame.assign(year=frame["period"].str[:4].astype("int64"))


def _rates(raw: Path) -> pd.DataFrame:
    return load.read_csv(raw / "reference" / "fx_rates.csv", load.FX_RATES)


def _replace_line(path: Path, line: int, cells: dict[int, str]) -> str:
    lines = path.read_text().splitlines()
    parts = lines[line - 1].split(",")
    for at, value in cells.items():
        parts[at] = value
    lines[line - 1] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")
    return lines[line - 1]


def test_city_year_aggregates_equal_the_whole_year_computation(raw, tmp_path):
    warehouse = tmp_path / "warehouse"
    report = update_store(Catalog(raw=raw, warehouse=warehouse), workers=2)
    expected = city_year_totals(to_cny(_records(raw), _rates(raw)))
    got = pd.read_parquet(warehouse / "trade" / "city_year.parquet")
    merged = expected.merge(got, on=["city_code", "year"], suffixes=("", "_ours"), validate="one_to_one")
    assert len(merged) == len(expected) == len(got) == 30
    for column in ("exports_cny", "imports_cny"):
        np.testing.assert_allclose(merged[f"{column}_ours"], merged[column], rtol=1e-12)
    assert (merged["partner_countries_ours"] == merged["partner_countries"]).all()
    assert report.rows_in == report.rows_clean == len(_records(raw))
    assert report.ingested == [f"2018/{m}.csv" for m in MONTHS]


def test_facts_are_hive_partitioned_and_read_back_by_duckdb_and_pyarrow(raw, tmp_path):
    warehouse = tmp_path / "warehouse"
    update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    facts = warehouse / "trade" / "facts"
    assert sorted(p.name for p in (facts / "year=2018").iterdir()) == ["month=01", "month=02", "month=03"]
    rows = duckdb.sql(
        f"select month, count(*), sum(value_cny) from read_parquet('{facts}/**/*.parquet', "
        "hive_partitioning=true) group by month order by month"
    ).fetchall()
    records = to_cny(_records(raw), _rates(raw))
    by_month = records.groupby(records["period"].str[5:7])["value_cny"].agg(["size", "sum"])
    assert [r[1] for r in rows] == by_month["size"].tolist()
    np.testing.assert_allclose([r[2] for r in rows], by_month["sum"], rtol=1e-12)
    table = pq.read_table(facts)
    assert table.num_rows == len(records)
    assert {"year", "month", "value_cny", "source_file", "source_line"} <= set(table.column_names)


def test_a_few_bad_rows_are_quarantined_and_the_rest_published(raw, tmp_path):
    path = raw / "trade" / "2018" / "2018-02.csv"
    _replace_line(path, 10, {5: "-5.00"})  # negative value
    _replace_line(path, 20, {1: "XXX"})  # unknown city
    warehouse = tmp_path / "warehouse"
    report = update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    quarantine = pd.read_parquet(warehouse / "trade" / "quarantine.parquet")
    assert sorted(zip(quarantine["file"], quarantine["line"], quarantine["column"], strict=True)) == [
        ("raw/trade/2018/2018-02.csv", 10, "value"),
        ("raw/trade/2018/2018-02.csv", 20, "reporter_city"),
    ]
    assert report.rows_quarantined == 2 and report.rows_clean == report.rows_in - 2
    facts = pq.read_table(warehouse / "trade" / "facts").to_pandas()
    lines = facts.loc[facts["source_file"] == "raw/trade/2018/2018-02.csv", "source_line"]
    assert not {10, 20} & set(lines)
    validation = pd.read_parquet(warehouse / "trade" / "validation.parquet")
    failed = validation[~validation["success"]]
    assert set(failed["file"]) == {"raw/trade/2018/2018-02.csv"}
    assert failed["unexpected_count"].sum() == 2


def test_too_many_bad_rows_publish_nothing_and_name_the_file(raw, tmp_path):
    warehouse = tmp_path / "warehouse"
    update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    before = tree_digest(warehouse)
    path = raw / "trade" / "2018" / "2018-03.csv"
    for line in range(2, 60):
        _replace_line(path, line, {5: "-1"})
    with pytest.raises(DataValidationError) as error:
        update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    assert "raw/trade/2018/2018-03.csv" in str(error.value) and "above the 0.1 % allowed" in str(error.value)
    assert tree_digest(warehouse) == before


def test_a_malformed_file_stops_the_ingest_with_its_line_and_leaves_the_store(raw, tmp_path):
    warehouse = tmp_path / "warehouse"
    update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    before = tree_digest(warehouse)
    _replace_line(raw / "trade" / "2018" / "2018-01.csv", 500, {5: "12 345"})
    with pytest.raises(load.LoadError) as error:
        update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    assert (error.value.file, error.value.line, error.value.column) == (
        "raw/trade/2018/2018-01.csv",
        500,
        "value",
    )
    assert error.value.kind == Kind.THOUSANDS_SEPARATOR
    assert tree_digest(warehouse) == before


def test_duplicate_keys_across_batches_quarantine_every_copy(raw, tmp_path):
    for month in MONTHS[1:]:  # a key holds its month: only January's batches can repeat one
        (raw / "trade" / "2018" / f"{month}.csv").unlink()
    path = raw / "trade" / "2018" / "2018-01.csv"
    lines = path.read_text().splitlines()
    copied = lines[3]
    path.write_text("\n".join([*lines, copied]) + "\n")  # line 4 repeated at the end of the file
    warehouse = tmp_path / "warehouse"
    report = update_store(Catalog(raw=raw, warehouse=warehouse), workers=1, block_bytes=100_000)
    quarantine = pd.read_parquet(warehouse / "trade" / "quarantine.parquet")
    assert sorted(quarantine["line"]) == [4, len(lines) + 1]
    assert set(quarantine["expectation"]) == {"expect_compound_columns_to_be_unique"}
    assert report.rows_quarantined == 2
    facts = pq.read_table(warehouse / "trade" / "facts").to_pandas()
    january = facts[facts["source_file"] == "raw/trade/2018/2018-01.csv"]
    assert len(january) == len(lines) - 1 - 1  # header and the first copy out, the second never in
    assert 4 not in set(january["source_line"])


def test_a_second_run_reuses_unchanged_files_and_matches_a_full_run(raw, tmp_path):
    warehouse = tmp_path / "warehouse"
    update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    again = update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    assert again.ingested == [] and len(again.reused) == 3

    _replace_line(raw / "trade" / "2018" / "2018-02.csv", 2, {5: "123456.78"})
    shutil.copy(PROJECT_ROOT / "raw" / "trade" / "2018" / "2018-04.csv", raw / "trade" / "2018")
    incremental = update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    assert incremental.ingested == ["2018/2018-02.csv", "2018/2018-04.csv"]
    assert incremental.reused == ["2018/2018-01.csv", "2018/2018-03.csv"]

    full = tmp_path / "full"
    update_store(Catalog(raw=raw, warehouse=full), workers=1)
    for name in ("city_year.parquet", "city_partner_month.parquet", "quarantine.parquet"):
        assert (warehouse / "trade" / name).read_bytes() == (full / "trade" / name).read_bytes(), name

    (raw / "trade" / "2018" / "2018-04.csv").unlink()
    dropped = update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    assert dropped.dropped == ["2018/2018-04.csv"] and dropped.ingested == []
    assert not list((warehouse / "trade" / "facts").rglob("2018_2018-04*"))


def _same_size_edit(path: Path, mtime_ns: int) -> None:
    """Change a digit of the first record's value, keeping the size and the modification time."""
    data = bytearray(path.read_bytes())
    line = data.index(b"\n") + 1  # the first record; its value is the sixth cell
    digit = line + sum(len(cell) + 1 for cell in bytes(data[line:]).split(b",")[:5])
    data[digit] = ord("1") if data[digit] != ord("1") else ord("2")
    path.write_bytes(bytes(data))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_planning_trusts_an_old_unchanged_stat_and_rereads_a_racy_one(raw, tmp_path):
    """Like git's index: same size and mtime, modified well before it was hashed -> not read."""
    warehouse = tmp_path / "warehouse"
    old, fresh = raw / "trade" / "2018" / "2018-01.csv", raw / "trade" / "2018" / "2018-02.csv"
    past = time.time_ns() - 3600 * 10**9
    os.utime(old, ns=(past, past))
    update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    files = json.loads((warehouse / "trade" / "manifest.json").read_text())["files"]
    assert files["2018/2018-01.csv"]["size"] == old.stat().st_size
    assert files["2018/2018-01.csv"]["mtime_ns"] == past < files["2018/2018-01.csv"]["hashed_ns"] - RACY_NS

    _same_size_edit(old, past)  # trusted: an edit that keeps both is not seen (use --force)
    _same_size_edit(fresh, files["2018/2018-02.csv"]["mtime_ns"])  # modified just before hashing
    again = update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    assert again.ingested == ["2018/2018-02.csv"]
    forced = update_store(Catalog(raw=raw, warehouse=warehouse), workers=1, force=True)
    assert forced.ingested == [f"2018/{m}.csv" for m in MONTHS]
    entry = json.loads((warehouse / "trade" / "manifest.json").read_text())["files"]["2018/2018-01.csv"]
    assert entry["checksum"] == sha256(old) != files["2018/2018-01.csv"]["checksum"]


def test_ingesting_one_year_keeps_the_others_and_a_no_op_writes_nothing(raw, tmp_path):
    (raw / "trade" / "2017").mkdir()
    for month in ("2017-11", "2017-12"):  # two months of another year are enough to be kept
        shutil.copy(PROJECT_ROOT / "raw" / "trade" / "2017" / f"{month}.csv", raw / "trade" / "2017")
    warehouse = tmp_path / "warehouse"
    first = update_store(Catalog(raw=raw, warehouse=warehouse), workers=2)
    assert len(first.ingested) == 5
    _replace_line(raw / "trade" / "2018" / "2018-01.csv", 2, {5: "1.00"})
    before = tree_digest(warehouse)
    only_2017 = update_store(Catalog(raw=raw, warehouse=warehouse), years=[2017], workers=1)
    assert only_2017.ingested == [] and only_2017.reused == ["2017/2017-11.csv", "2017/2017-12.csv"]
    assert tree_digest(warehouse) == before  # nothing to do: no new version
    years = pd.read_parquet(warehouse / "trade" / "city_year.parquet")["year"]
    assert set(years) == {2017, 2018}
    only_2018 = update_store(Catalog(raw=raw, warehouse=warehouse), years=[2018], workers=1)
    assert only_2018.ingested == ["2018/2018-01.csv"]
    assert set(pd.read_parquet(warehouse / "trade" / "city_year.parquet")["year"]) == {2017, 2018}


def test_changed_reference_rates_re_ingest_every_file(raw, tmp_path):
    warehouse = tmp_path / "warehouse"
    update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    rates = raw / "reference" / "fx_rates.csv"
    text = rates.read_text()
    assert "2018,USD,6.617\n" in text
    rates.write_text(text.replace("2018,USD,6.617\n", "2018,USD,6.7\n"))
    report = update_store(Catalog(raw=raw, warehouse=warehouse), workers=1)
    assert len(report.ingested) == 3 and report.reused == []


def test_two_files_for_one_month_are_refused(raw, tmp_path):
    source = raw / "trade" / "2018" / "2018-01.csv"
    (raw / "trade" / "2018" / "2018-01.csv.gz").write_bytes(__import__("gzip").compress(source.read_bytes()))
    with pytest.raises(load.LoadError, match="2018-01 in two formats"):
        update_store(Catalog(raw=raw, warehouse=tmp_path / "warehouse"), workers=1)


def _months(raw: Path, folder: Path, files: int) -> Path:
    """`files` monthly copies of January (same size each) with the reference tables."""
    shutil.copytree(raw / "reference", folder / "reference")
    (folder / "trade" / "2018").mkdir(parents=True)
    source = (raw / "trade" / "2018" / "2018-01.csv").read_text()
    for month in range(1, files + 1):
        text = source.replace("2018-01,", f"2018-{month:02d},")
        (folder / "trade" / "2018" / f"2018-{month:02d}.csv").write_text(text)
    return folder


def test_memory_stays_bounded_by_the_file_not_the_number_of_files(raw, tmp_path):
    """tracemalloc sees numpy/pandas buffers: ingesting 3 files peaks like ingesting 1."""
    import tracemalloc

    import pyarrow as pa

    update_store(
        Catalog(raw=_months(raw, tmp_path / "warm", 1), warehouse=tmp_path / "wh-warm"), workers=1
    )  # imports, caches

    def peak(files: int) -> tuple[int, int]:
        folder = _months(raw, tmp_path / f"raw{files}", files)
        arrow_before = pa.total_allocated_bytes()
        tracemalloc.start()
        update_store(Catalog(raw=folder, warehouse=tmp_path / f"wh{files}"), workers=1)
        python_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return python_peak, pa.total_allocated_bytes() - arrow_before

    one, arrow_one = peak(1)
    three, arrow_three = peak(3)
    assert three < one * 1.5, (one, three)
    assert arrow_three < max(arrow_one, 0) + (8 << 20)  # nothing accumulates in Arrow's pool


def test_a_file_is_never_held_whole_only_a_batch_or_two(raw, tmp_path, monkeypatch):
    """Count the reader's batches alive at once while one file streams in ~12 batches."""
    import weakref

    from tasks.trade import stream

    alive: set[int] = set()
    most = batches = 0
    read = stream.read_batches

    def counted(*args, **kwargs):
        nonlocal most, batches
        for number, batch in enumerate(read(*args, **kwargs)):
            batches += 1
            alive.add(number)
            weakref.finalize(batch, alive.discard, number)
            most = max(most, len(alive))
            yield batch

    monkeypatch.setattr(stream, "read_batches", counted)
    folder = _months(raw, tmp_path / "raw1", 1)
    update_store(Catalog(raw=folder, warehouse=tmp_path / "warehouse"), workers=1, block_bytes=50_000)
    assert batches >= 10 and len(alive) == 0 and 1 <= most <= 2, (batches, most)
    assert pa.default_memory_pool().backend_name == "system"  # mimalloc's RSS crept batch by batch


def test_the_key_ledger_packs_thousands_of_values_and_finds_repeats_across_batches():
    from tasks.trade.ledger import KeyLedger

    def batch(cities: range, hs2: str) -> pd.DataFrame:
        codes = [f"C{i:05d}" for i in cities]
        return pd.DataFrame({"city": pd.Categorical(codes), "hs2": pd.Categorical([hs2] * len(codes))})

    ledger = KeyLedger(["city", "hs2"])
    kept, repeated = ledger.admit(batch(range(3_196), "01"))
    assert len(kept) == 3_196 and repeated.empty and not ledger.hashed  # 12 + 1 bits, not hashed
    kept, repeated = ledger.admit(batch(range(3_000, 3_500), "01"), remember=False)
    assert list(repeated["city"]) == [f"C{i:05d}" for i in range(3_000, 3_196)] and len(kept) == 304
    assert ledger.held == 3_196  # the last batch is checked, not remembered

    # A file sorted by its first key column: one value in the first batch, more later. The
    # keys held are re-packed as the widths grow, and repeats from either batch are found.
    def rows(a: list[int], n: int = 2_100) -> pd.DataFrame:
        others = {c: pd.Categorical([f"{c}{j}" for _ in a for j in range(n)]) for c in "bcde"}
        return pd.DataFrame({"a": pd.Categorical([f"a{i}" for i in a for _ in range(n)])} | others)

    wide = KeyLedger(list("abcde"))
    wide.admit(rows([0]))
    first = dict(wide.widths)
    assert first["a"] == 3 and not wide.hashed  # 1 + 4 x 12 bits needed, 14 spare: 1 + 2 for "a"
    wide.admit(rows(list(range(1, 20))))
    assert wide.widths["a"] > first["a"]
    repeats = pd.concat([rows([0]).iloc[[5]], rows([7]).iloc[[9]], rows([30]).iloc[[0]]])
    kept, repeated = wide.admit(repeats, remember=False)
    assert list(repeated["a"]) == ["a0", "a7"] and list(kept["a"]) == ["a30"]
    with pytest.raises(RuntimeError, match="too many distinct values"):  # 5 x 13 bits > 63
        wide.admit(pd.DataFrame({c: pd.Categorical([f"{c}{i}" for i in range(4_200)]) for c in "abcde"}))


def test_the_key_ledger_holds_its_keys_on_disk_and_reads_them_back_in_chunks(monkeypatch):
    import tracemalloc

    from tasks.trade import ledger as ledger_module
    from tasks.trade.ledger import KeyLedger

    monkeypatch.setattr(ledger_module, "CHUNK_KEYS", 7_777)  # runs span many chunks
    rng = np.random.default_rng(3)
    cities, hs2 = [f"C{i:04d}" for i in range(3_000)], [f"{i:02d}" for i in range(100)]

    def batch(rows: np.ndarray) -> pd.DataFrame:  # rows: indexes into the 300,000 keys
        return pd.DataFrame({"city": pd.Categorical.from_codes(rows // 100, cities),
                             "hs2": pd.Categorical.from_codes(rows % 100, hs2)})  # fmt: skip

    keys = rng.permutation(300_000)
    ledger = KeyLedger(["city", "hs2"])
    ledger.admit(batch(keys[:50_000]))
    tracemalloc.start()
    try:
        for start in range(50_000, 250_000, 50_000):
            before = tracemalloc.get_traced_memory()[0]
            kept, repeated = ledger.admit(batch(keys[start : start + 50_000]))
            assert len(kept) == 50_000 and repeated.empty
            del kept, repeated
            assert tracemalloc.get_traced_memory()[0] - before < 100_000  # 400 kB of keys a batch: on disk
    finally:
        tracemalloc.stop()
    assert ledger.held == 250_000
    # repeats from every earlier batch, in any order, mixed with new keys
    probe = np.concatenate([keys[[3, 60_001, 149_999, 249_999]], keys[250_000:250_010]])
    kept, repeated = ledger.admit(batch(rng.permutation(probe)), remember=False)
    assert sorted(repeated["city"].astype(str) + repeated["hs2"].astype(str)) == sorted(
        f"{cities[k // 100]}{hs2[k % 100]}" for k in keys[[3, 60_001, 149_999, 249_999]]
    )
    assert len(kept) == 10 and len(ledger.duplicates) == 4
    ledger.close()
    assert ledger.held == 0 and len(ledger.keys(batch(keys[:5]))) == 5  # ids stay for `_drop_keys`


def test_each_file_is_logged_as_it_is_done_in_both_modes(raw, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="coopindex.trade")
    for workers in (1, 2):
        caplog.clear()
        update_store(Catalog(raw=raw, warehouse=tmp_path / f"w{workers}"), workers=workers)
        lines = [r.getMessage() for r in caplog.records if r.name == "coopindex.trade"]
        assert [line.split(":")[0] for line in lines] == [f"trade file {i}/3" for i in (1, 2, 3)]
        files = sorted(line.split(": ", 1)[1].split(" (")[0] for line in lines)
        assert files == [f"raw/trade/2018/2018-0{m}.csv" for m in (1, 2, 3)], lines
        assert all(re.search(r"\(\d{1,3}(,\d{3})* rows, 0 quarantined\)$", line) for line in lines), lines
