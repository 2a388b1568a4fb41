"""The streaming reader gives what the whole-file reader gives, in batches, for every format."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tasks.quality import load
from tasks.quality.load_errors import Kind, LoadError
from tasks.trade import stream
from tasks.warehouse.catalog import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "raw" / "trade" / "2018" / "2018-01.csv"
LABEL = "raw/trade/2018/2018-01.csv"


def _stacked(path: Path, block_bytes: int = stream.BLOCK_BYTES) -> tuple[pd.DataFrame, int]:
    batches = list(stream.read_batches(path, load.TRADE_RECORDS, LABEL, block_bytes))
    text = {c: "str" for c in load.TRADE_RECORDS if load.TRADE_RECORDS[c] == "str"} | {"source_file": "str"}
    return pd.concat([b.astype(text) for b in batches], ignore_index=True), len(batches)


@pytest.fixture(scope="module")
def whole() -> pd.DataFrame:
    return load.read_csv(SAMPLE, load.TRADE_RECORDS, LABEL)


def test_csv_in_small_blocks_equals_the_whole_file(whole):
    frame, batches = _stacked(SAMPLE, block_bytes=100_000)
    assert batches > 3
    pd.testing.assert_frame_equal(frame, whole, check_dtype=False)
    assert frame["source_line"].tolist() == list(range(2, len(whole) + 2))


def test_text_columns_are_categories_with_stripped_values(tmp_path):
    path = tmp_path / "2018-01.csv"
    path.write_text("period,reporter_city,partner,flow,hs2,value,currency\n"
                    "2018-01,BJS ,POL,export,01,1.5,USD\n2018-01,BJS,POL,import,01,2,USD\n")  # fmt: skip
    (batch,) = stream.read_batches(path, load.TRADE_RECORDS, LABEL)
    assert batch["reporter_city"].dtype == "category"
    assert list(batch["reporter_city"].cat.categories) == ["BJS"]
    assert batch["value"].tolist() == [1.5, 2.0]


def test_gzip_and_parquet_read_like_the_csv(tmp_path, whole):
    gz = tmp_path / "2018-01.csv.gz"
    gz.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    parquet = tmp_path / "2018-01.parquet"
    table = pacsv.read_csv(SAMPLE, convert_options=pacsv.ConvertOptions(column_types={"hs2": "string"}))
    pq.write_table(table, parquet)
    for path in (gz, parquet):
        frame, _ = _stacked(path)
        pd.testing.assert_frame_equal(frame, whole, check_dtype=False)


def test_a_bad_number_in_a_later_block_is_located_like_the_whole_file_reader(tmp_path):
    lines = SAMPLE.read_text().splitlines()
    lines[9000] = lines[9000].rsplit(",", 2)[0] + ",1.234,56,USD"  # a thousands separator: one cell too many
    path = tmp_path / "2018-01.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LoadError) as streamed:
        list(stream.read_batches(path, load.TRADE_RECORDS, LABEL, block_bytes=100_000))
    with pytest.raises(LoadError) as whole_file:
        load.read_csv(path, load.TRADE_RECORDS, LABEL)
    assert (streamed.value.kind, streamed.value.line) == (whole_file.value.kind, whole_file.value.line)
    assert streamed.value.line == 9001


def test_blank_lines_at_the_end_pass_but_not_in_the_middle(tmp_path, whole):
    path = tmp_path / "2018-01.csv"
    path.write_bytes(SAMPLE.read_bytes() + b"\n\n")
    frame, _ = _stacked(path, block_bytes=100_000)
    assert len(frame) == len(whole)
    lines = SAMPLE.read_text().splitlines()
    path.write_text("\n".join([*lines[:5000], "", *lines[5000:]]) + "\n")
    with pytest.raises(LoadError) as error:
        list(stream.read_batches(path, load.TRADE_RECORDS, LABEL, block_bytes=100_000))
    assert (error.value.kind, error.value.line) == (Kind.BLANK_LINE, 5001)


def test_a_parquet_file_with_a_renamed_column_is_refused(tmp_path):
    table = pacsv.read_csv(SAMPLE).rename_columns(
        ["period", "city", "partner", "flow", "hs2", "value", "currency"]
    )
    path = tmp_path / "2018-01.parquet"
    pq.write_table(table, path)
    with pytest.raises(LoadError) as error:
        list(stream.read_batches(path, load.TRADE_RECORDS, LABEL))
    assert error.value.kind in (Kind.RENAMED_COLUMNS, Kind.MISSING_COLUMNS)


def test_header_problems_are_found_before_any_batch(tmp_path):
    path = tmp_path / "2018-01.csv"
    path.write_bytes(SAMPLE.read_bytes().replace(b",", b";"))
    with pytest.raises(LoadError) as error:
        next(stream.read_batches(path, load.TRADE_RECORDS, LABEL))
    assert error.value.kind == Kind.DELIMITER


def test_only_the_last_batch_says_it_is_last_and_parquet_row_groups_read_whole(tmp_path, whole, monkeypatch):
    parquet = tmp_path / "2018-01.parquet"
    table = pacsv.read_csv(SAMPLE, convert_options=pacsv.ConvertOptions(column_types={"hs2": "string"}))
    pq.write_table(table, parquet)
    monkeypatch.setattr(stream, "PARQUET_ROWS", 1_000)
    for path, block_bytes in ((SAMPLE, 100_000), (parquet, stream.BLOCK_BYTES)):
        batches = list(stream.read_batches(path, load.TRADE_RECORDS, LABEL, block_bytes))
        assert len(batches) > 3
        assert [b.attrs[stream.LAST] for b in batches] == [False] * (len(batches) - 1) + [True]
        frame, _ = _stacked(path, block_bytes)
        pd.testing.assert_frame_equal(frame, whole, check_dtype=False)


def test_a_short_rest_joins_the_last_batch_instead_of_making_its_own(tmp_path):
    size = SAMPLE.stat().st_size
    gz = tmp_path / "2018-01.csv.gz"  # its size unknown: the rest is judged by reading ahead
    gz.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    for path in (SAMPLE, gz):
        assert _stacked(path, int(size * 0.8))[1] == 1  # the rest (~20 %) is under half a block
        assert _stacked(path, int(size * 0.6))[1] == 2  # the rest (~40 %) is not


def test_a_plain_csv_is_cut_into_blocks_of_even_size():
    size = SAMPLE.stat().st_size
    batches = list(stream.read_batches(SAMPLE, load.TRADE_RECORDS, LABEL, int(size / 5.3)))
    rows = [len(b) for b in batches]
    assert len(rows) == 6 and max(rows) < 1.05 * min(rows), rows  # not four blocks and a 1.3 one
