"""The `coopindex` command as a user runs it: a real process, a real warehouse.

`coopindex run` stopping on a bad file (a real Prefect flow run, exit 1, the message once) is in
test_malformed.py; publishing is the session's `published_2018`.
"""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import coopindex, copy_warehouse, tree_digest

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_coopindex_help_in_its_own_process_lists_every_command():
    result = coopindex("--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    listed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert set(COMMANDS) <= listed, result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    """Each command's help page (in this process: rendering it needs no fresh interpreter)."""
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert f"Usage: root {command} [OPTIONS]" in result.output and "--help" in result.output


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


def validate(*args: str) -> tuple[int, str]:
    """`coopindex validate ARGS` in this process: its exit code and what it printed."""
    result = CliRunner().invoke(app, ["validate", *args], env={"COLUMNS": "160"})
    return result.exit_code, result.output


def test_validate_reports_and_leaves_the_warehouse_byte_identical(published_2018, raw_copy, tmp_path):
    """The bad-row run in its own process, as a user runs it, against a published warehouse; the
    blocked one in this process (a fresh interpreter re-imports pandas and GX and adds nothing).
    A quarantined row does not stop a run: its validation passes. A changed trade file is checked
    in a scratch store: nothing under the warehouse changes, runs and locks included."""
    warehouse = copy_warehouse(published_2018[0], tmp_path / "warehouse")
    where = ("--raw", str(raw_copy), "--warehouse", str(warehouse))
    path = raw_copy / "trade" / "2018" / "2018-07.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("export", "exprot")
    path.write_text("\n".join(lines) + "\n")
    before = tree_digest(warehouse, skip=())
    one_bad_row = coopindex("validate", "--edition", "2018", *where)
    assert one_bad_row.returncode == 0, one_bad_row.stdout + one_bad_row.stderr
    assert "trade_records" in one_bad_row.stdout and "pass every critical check" in one_bad_row.stdout
    assert "raw/trade/2018/2018-07.csv, line 4, column 'flow'" in one_bad_row.stdout
    assert "1 row(s) would be quarantined" in one_bad_row.stdout
    assert tree_digest(warehouse, skip=()) == before

    rates = raw_copy / "reference" / "fx_rates.csv"
    rates.write_text(rates.read_text().replace("2018,EUR,", "2018,eur,"))
    code, output = validate("--edition", "2018", *where)
    assert code == 1, output
    assert "raw/reference/fx_rates.csv, line" in output and "column 'currency'" in output
    assert "would not be published" in output and "Traceback" not in output
    assert tree_digest(warehouse, skip=()) == before
