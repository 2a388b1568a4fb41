"""The trade-ingest benchmark: the generator, the DuckDB baseline, the pyarrow floor, the measurement,
the ratios and the command.

Sizes are tiny: speed is a target reported by `coopindex bench`, never asserted here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks.bench.baseline import (
    CITY_YEAR_COLUMNS,
    compare_city_year,
    duckdb_baseline,
    pyarrow_floor,
    trade_files,
)
from tasks.bench.run import ratios
from tasks.bench.sides import Measurement, best_of, measure
from tasks.bench.synthetic_trade import BAD_KINDS, generate, read_manifest
from tasks.quality import load
from tasks.quality.validation import validate
from tasks.trade.figures import city_year_totals
from tasks.trade.file import with_cny
from tasks.trade.fx import fx_keys, to_cny
from tasks.trade.membership import member_keys, members_in
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog

ROWS = 20_000
KEY = ["period", "reporter_city", "partner", "flow", "hs2"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("bench") / "raw", ROWS)


def _records(raw: Path) -> pd.DataFrame:
    records = load.read_many(trade_files(raw), load.TRADE_RECORDS, {})
    records["year"] = records["period"].str[:4].astype("int64")
    records["member_key"] = records["year"].astype("str") + ":" + records["partner"]
    records["fx_key"] = records["year"].astype("str") + ":" + records["currency"]
    return records


def _in_cny(records: pd.DataFrame, raw: Path) -> pd.DataFrame:
    """The records as the suite sees them in the ingest: with their worth in CNY (a ceiling)."""
    fx = load.read_csv(raw / "reference" / "fx_rates.csv", load.FX_RATES)
    rates = dict(zip(fx["year"].astype("str") + ":" + fx["currency"], fx["cny_per_unit"], strict=True))
    rates |= {f"{year}:CNY": 1.0 for year in fx["year"].unique()}
    return with_cny(records, rates)


def test_generator_writes_exactly_the_rows_in_twelve_month_files(generated):
    raw = generated.raw_dir
    assert [f.name for f in generated.files] == [f"2018-{m:02d}.csv" for m in range(1, 13)]
    assert trade_files(raw) == generated.files
    lines = [len(f.read_bytes().splitlines()) - 1 for f in generated.files]
    assert lines == generated.rows_by_file and sum(lines) == ROWS
    assert generated.files[0].read_text().startswith("period,reporter_city,partner,flow,hs2,value,currency\n")
    assert read_manifest(raw).rows_by_file == generated.rows_by_file
    shipped = PROJECT_ROOT / "raw" / "reference"
    for name in ("ceec_members.csv", "fx_rates.csv", "national_trade.csv"):
        assert (raw / "reference" / name).read_bytes() == (shipped / name).read_bytes()


def test_generated_rows_are_skewed_unique_and_read_by_the_loader(generated):
    records = _records(generated.raw_dir)  # tasks.quality.load refuses anything off contract
    assert len(records) == ROWS
    assert not records.duplicated(KEY).any()
    members = load.read_csv(Path("raw/reference/ceec_members.csv"), load.CEEC_MEMBERS)
    assert set(records["partner"]) - set(members_in(members, 2018)) <= {"GRC"}  # GRC: the bad partner
    shares = records["currency"].value_counts(normalize=True)
    assert shares["USD"] > 0.8 and 0.05 < shares["CNY"] < 0.15 and shares["EUR"] < 0.08
    sizes = records.groupby("reporter_city").size().sort_values(ascending=False)
    assert sizes.iloc[0] > 5 * sizes.iloc[len(sizes) // 2]  # a few large reporters
    assert (records["value"].round(2) == records["value"]).all()


def test_bad_rows_are_caught_by_the_suite_and_stay_under_the_quarantine_share(generated, tmp_path):
    shipped = read_manifest(generated.raw_dir)
    assert shipped.bad_rows == round(ROWS * 0.0002)
    shares = [b / n for b, n in zip(_bad_per_file(generated.raw_dir), shipped.rows_by_file, strict=True)]
    assert max(shares) < 0.001  # the default share quarantines: it never stops the ingest

    many = generate(tmp_path / "raw", ROWS, bad_share=0.002, seed=3)
    assert many.bad_rows == 40 and set(many.bad_by_kind) == set(BAD_KINDS)
    assert min(many.bad_by_kind.values()) >= 6
    records = _in_cny(_records(many.raw_dir), many.raw_dir)
    assert not records.duplicated(KEY).any()  # a broken row breaks one rule, never the key
    reference = many.raw_dir / "reference"
    parameters = {
        "known_cities": sorted(load.read_csv(reference / "cities.csv", load.CITIES)["city_code"]),
        "member_keys": member_keys(load.read_csv(reference / "ceec_members.csv", load.CEEC_MEMBERS), [2018]),
        "fx_keys": fx_keys(load.read_csv(reference / "fx_rates.csv", load.FX_RATES)),
    }
    outcome = validate(records, "trade_records", parameters, suites=Catalog().expectations)
    failed = outcome.failed_rows
    assert failed["position"].nunique() == many.bad_rows
    assert len(failed) == many.bad_rows  # one rule each
    assert {f.column for f in outcome.failures} == {"value", "reporter_city", "partner", "hs2", "currency"}


def _bad_per_file(raw: Path) -> list[int]:
    cities = set(load.read_csv(raw / "reference" / "cities.csv", load.CITIES)["city_code"])
    counts = []
    for path in trade_files(raw):
        f = load.read_csv(path, load.TRADE_RECORDS)
        bad = (
            (f["value"] < 0) | ~f["reporter_city"].isin(cities) | (f["partner"] == "GRC")
            | f["hs2"].isin(["00", "99"]) | (f["currency"] == "GBP")
        )  # fmt: skip
        counts.append(int(bad.sum()))
    return counts


def test_generator_is_deterministic_and_adds_reporters_as_the_key_space_needs(generated, tmp_path):
    again = generate(tmp_path / "again", ROWS)
    assert [f.read_bytes() for f in again.files] == [f.read_bytes() for f in generated.files]
    other = generate(tmp_path / "other", ROWS, seed=1)
    assert other.files[0].read_bytes() != generated.files[0].read_bytes()

    big = generate(tmp_path / "big", 700_000, bad_share=0)
    cities = load.read_csv(big.raw_dir / "reference" / "cities.csv", load.CITIES)
    assert big.reporters == len(cities) > 30
    assert 2 * max(big.rows_by_file) <= len(cities) * 16 * 2 * 97  # room for the key to stay unique
    assert validate(cities, "cities", suites=Catalog().expectations).success
    gz = generate(tmp_path / "gz", 1_000, gzip=True)
    assert [f.name for f in gz.files][0] == "2018-01.csv.gz"


def test_generator_refuses_the_shipped_sample():
    with pytest.raises(ValueError, match="shipped sample"):
        generate(PROJECT_ROOT / "raw", 1_000)


def test_duckdb_baseline_matches_pandas(generated, tmp_path):
    assert duckdb_baseline(generated.raw_dir, tmp_path, threads=1) == ROWS
    theirs = pd.read_parquet(tmp_path / "city_year.parquet")
    assert list(theirs.columns) == ["year", "city_code", "exports_cny", "imports_cny", "partner_countries"]
    records = _records(generated.raw_dir)
    fx = load.read_csv(generated.raw_dir / "reference" / "fx_rates.csv", load.FX_RATES)
    has_rate = records["fx_key"].isin(fx_keys(fx))  # no validation: only the rows without a rate add nothing
    ours = city_year_totals(to_cny(records[has_rate], fx))
    check = compare_city_year(ours, theirs)
    assert check["agree"], check


def test_pyarrow_floor_matches_duckdb_and_writes_every_row_as_facts(generated, tmp_path):
    # Forked workers on the default data; sequential on rule breakers of every kind.
    many = generate(tmp_path / "raw", ROWS, bad_share=0.002, seed=3)
    for data, workers in ((generated, 2), (many, 1)):
        out, duck_dir = tmp_path / f"floor-{workers}", tmp_path / f"duckdb-{workers}"
        assert pyarrow_floor(data.raw_dir, out, workers=workers) == ROWS
        assert duckdb_baseline(data.raw_dir, duck_dir, threads=1) == ROWS
        floor = pd.read_parquet(out / "city_year.parquet")
        duck = pd.read_parquet(duck_dir / "city_year.parquet")
        assert list(floor.columns) == CITY_YEAR_COLUMNS
        assert floor.dtypes.to_dict() == duck.dtypes.to_dict()
        check = compare_city_year(floor, duck)
        assert check["agree"], check

        parts = sorted((out / "facts").rglob("*.parquet"))
        assert [p.relative_to(out / "facts").as_posix() for p in parts] == [
            f"year=2018/month={m:02d}/2018-{m:02d}.csv.parquet" for m in range(1, 13)
        ]
        rows = [pq.ParquetFile(p).metadata.num_rows for p in parts]
        assert rows == data.rows_by_file  # every row, the rule breakers too
    facts = pq.read_table(parts, partitioning=None).to_pandas()
    assert (facts["period"].astype("str") == "2018-" + facts["source_file"].astype("str").str[5:7]).all()
    assert facts["value_cny"].isna().sum() == many.bad_by_kind["no_fx_rate"] == 8
    assert (facts["value_cny"] < 0).sum() == many.bad_by_kind["negative_value"]


def test_measure_sums_the_process_tree(tmp_path):
    child = "import time; b = bytearray(80 * 2**20); time.sleep(0.6)"
    parent = (
        "import subprocess, sys, time; b = bytearray(80 * 2**20); "
        f"subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    )
    wall, peak_mb, code = measure([sys.executable, "-c", parent], tmp_path / "log")
    assert code == 0 and wall > 0.6
    assert peak_mb > 160  # both processes' 80 MB: a single process's ru_maxrss would miss it
    _, _, failed = measure([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "log")
    assert failed == 3


def test_each_figure_of_duckdb_is_its_best_run_and_the_ratios_are_taken_against_it():
    runs = [
        Measurement("duckdb", 100, wall_s=4.0, work_s=1.0, peak_rss_mb=120.0),
        Measurement("duckdb", 100, wall_s=2.0, work_s=1.5, peak_rss_mb=100.0),
    ]
    # Each figure from the run that did best on it: a cold first run does not count against DuckDB.
    assert best_of(runs) == Measurement("duckdb", 100, wall_s=2.0, work_s=1.0, peak_rss_mb=100.0)
    floor = Measurement("floor", 100, wall_s=3.0, work_s=2.0, peak_rss_mb=150.0)
    ours = Measurement("ours", 100, wall_s=6.0, work_s=4.0, peak_rss_mb=250.0)
    assert ratios(best_of(runs), floor, ours) == {
        "time": 3.0, "work_time": 4.0, "peak_rss": 2.5, "floor_vs_duckdb": 1.5, "ours_vs_floor": 2.0,
    }  # fmt: skip
    unmeasured = ratios(Measurement("duckdb", 100, wall_s=2.0, work_s=0.0, peak_rss_mb=0.0), floor, ours)
    assert unmeasured["time"] == 3.0 and unmeasured["work_time"] is None and unmeasured["peak_rss"] is None


def test_bench_command_runs_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        ["bench", "--rows", str(ROWS), "--dir", str(tmp_path / "work"), "--json", str(out)]
        + ["--baseline-runs", "1", "--threads", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "ours / DuckDB" in result.output and "GX import alone" in result.output
    data = json.loads(out.read_text())
    for side in ("duckdb", "floor", "ours"):
        assert data[side]["rows"] == ROWS
        assert data[side]["rows_per_s"] > 0 and data[side]["peak_rss_mb"] > 0
    assert data["ours"]["extra"]["rows_quarantined"] == data["generated"]["bad_rows"] == 4
    assert data["checks"]["ours_vs_facts"]["agree"] and data["checks"]["ours_vs_rules"]["agree"]
    assert data["ratio"]["time"] == pytest.approx(data["ours"]["wall_s"] / data["duckdb"]["wall_s"])
    assert data["floor"]["extra"]["heavy_modules"] == []  # no GX, Prefect nor DuckDB in the floor
    assert data["checks"]["floor_vs_duckdb"]["agree"], data["checks"]["floor_vs_duckdb"]
    assert data["gx_import"]["exit_code"] == 0 and data["gx_import"]["wall_s"] > 0
