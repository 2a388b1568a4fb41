"""The `coopindex` command as a user runs it: a real process, real Prefect, a real warehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tasks.warehouse.catalog import PROJECT_ROOT
from tests.conftest import seeded_warehouse

COMMANDS = [[], ["run"], ["show"], ["score"], ["validate"], ["serve"], ["backfill"], ["runs"]]


def coopindex(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ | {"COLUMNS": "160"},
    )


def command_id(command: list[str]) -> str:
    return " ".join(command) or "top"


@pytest.fixture(scope="module")
def help_pages() -> dict[str, subprocess.CompletedProcess[str]]:
    """`coopindex <command> --help` of every command, each in its own process, as many at a time
    as there are CPUs (a process spends its second or two importing, on one CPU)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        pages = pool.map(lambda command: coopindex(*command, "--help"), COMMANDS)
        return dict(zip(map(command_id, COMMANDS), pages, strict=True))


@pytest.mark.parametrize("command", COMMANDS, ids=command_id)
def test_every_command_has_help(command, help_pages):
    result = help_pages[command_id(command)]
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and "--help" in result.stdout


def test_show_prints_the_ranking_of_a_published_edition(sample_edition):
    catalog, _ = sample_edition
    result = coopindex("show", "--edition", "2018", "--warehouse", str(catalog.warehouse))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    first = next(line for line in lines if "Ningbo" in line)
    assert "69.3453" in first and first.split("│")[1].strip() == "1"
    assert any("Tianjin" in line and "40.5675" in line for line in lines)
    assert "mean of the top 15: 38.52146" in result.stdout


def test_show_says_when_an_edition_is_not_published(tmp_path):
    result = coopindex("show", "--edition", "2015", "--warehouse", str(tmp_path))
    assert result.returncode == 1
    assert "edition 2015 is not published" in result.stdout and "Traceback" not in result.stderr


def test_run_with_a_bad_file_prints_where_and_no_traceback(raw_copy, warehouse):
    path = raw_copy / "reference" / "fx_rates.csv"
    path.write_text(path.read_text().replace("6.617", "6,617", 1).replace("6,617", '"6,617"'))
    result = coopindex("run", "--raw", str(raw_copy), "--warehouse", str(warehouse))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "raw/reference/fx_rates.csv, line" in result.stdout and "column 'cny_per_unit'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-4000:]
    assert not (warehouse / "edition=2018").exists()


def test_validate_reports_without_publishing(raw_copy, warehouse, shipped_store, tmp_path):
    where = ("--raw", str(raw_copy), "--warehouse", str(warehouse))
    # The clean inputs are validated in their own copy of raw/ and of the warehouse, by a process
    # running beside the one that validates the inputs with a bad row.
    clean_raw = shutil.copytree(PROJECT_ROOT / "raw", tmp_path / "clean" / "raw")
    clean_warehouse = seeded_warehouse(shipped_store, tmp_path / "clean" / "warehouse")
    clean = ("--raw", str(clean_raw), "--warehouse", str(clean_warehouse))
    with ThreadPoolExecutor(max_workers=1) as beside:
        running = beside.submit(coopindex, "validate", "--edition", "2018", *clean)
        path = raw_copy / "trade" / "2018" / "2018-07.csv"
        lines = path.read_text().splitlines()
        lines[3] = lines[3].replace("export", "exprot")
        path.write_text("\n".join(lines) + "\n")
        one_bad_row = coopindex("validate", "--edition", "2018", *where)
        good = running.result()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "trade_records" in good.stdout and "pass every critical check" in good.stdout
    assert not list(clean_warehouse.glob("edition=*"))
    assert one_bad_row.returncode == 0, one_bad_row.stdout + one_bad_row.stderr
    assert "raw/trade/2018/2018-07.csv, line 4, column 'flow'" in one_bad_row.stdout
    assert "1 row(s) would be quarantined" in one_bad_row.stdout
    rates = raw_copy / "reference" / "fx_rates.csv"
    rates.write_text(rates.read_text().replace("2018,EUR,", "2018,eur,"))
    bad = coopindex("validate", "--edition", "2018", *where)
    assert bad.returncode == 1
    assert "raw/reference/fx_rates.csv, line" in bad.stdout and "column 'currency'" in bad.stdout
    assert "would not be published" in bad.stdout and "Traceback" not in bad.stdout + bad.stderr
    assert not list(warehouse.glob("edition=*"))
