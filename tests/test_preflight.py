"""Mistakes of a command line are found before any Prefect server starts, and said once.

One mistake is made in its own process, as a user makes it; the others in this process
(CliRunner): a new interpreter per mistake only re-imports the command line (~4 s of CPU).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.edition.preflight import PreflightError, preflight, scorable_editions, span
from tasks.engine.method import MethodError, read_method
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tests.conftest import coopindex

SERVER = "Starting temporary server"


def coopindex_here(*args: str) -> tuple[int, str]:
    """`coopindex ARGS` in this process: its exit code and all it printed. A command stopped by
    a mistake exits (SystemExit); any other exception is a traceback the user would see."""
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "160"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_an_unknown_edition_lists_the_editions_that_exist_and_starts_no_server(tmp_path):
    result = coopindex("run", "--edition", "2030", "--warehouse", str(tmp_path / "w"))
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert SERVER not in output and "Traceback" not in output
    assert output.count("edition 2030 cannot be scored") == 1
    assert "no trade files for 2028, 2029, 2030 in raw/trade/" in output
    assert "Editions raw/ can score: 2015–2020" in output.replace("\n", "")


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--raw", "/nonexistent/raw", "the raw folder /nonexistent/raw does not exist"),
        ("--config", "/tmp", "/tmp/framework.csv does not exist"),
        ("--warehouse", "/proc/coopindex", "the warehouse /proc/coopindex cannot be written"),
    ],
)
def test_a_missing_or_unwritable_folder_says_so(option, value, says):
    code, output = coopindex_here("run", option, value)
    assert code == 1 and SERVER not in output and "Traceback" not in output
    assert output.replace("\n", "").count(says) == 1, output


def test_validate_checks_the_same_before_it_reads(tmp_path):
    code, output = coopindex_here("validate", "--edition", "2012", "--warehouse", str(tmp_path / "w"))
    assert code == 1 and "edition 2012 cannot be scored" in output
    assert not (tmp_path / "w").exists()  # validate writes nothing, not even the folder


def test_the_editions_raw_can_score_follow_the_trade_years(tmp_path):
    raw = shutil.copytree(PROJECT_ROOT / "raw", tmp_path / "raw", ignore=shutil.ignore_patterns("2016"))
    catalog = Catalog.at(raw=raw, warehouse=tmp_path / "w")
    method = read_method(catalog.method)
    # 2016 gone: 2016 itself, 2017 (growth against 2016) and 2018 (imports against 2016) cannot be scored.
    assert scorable_editions(catalog, method) == [2015, 2019, 2020]
    with pytest.raises(
        PreflightError, match=r"no trade files for 2016 in raw/trade/ \(edition 2018 reads 2016"
    ):
        preflight(catalog, 2018)
    assert span([2015, 2019, 2020]) == "2015, 2019, 2020" and span([2015, 2016, 2017]) == "2015–2017"


def test_a_bad_method_file_is_said_in_its_own_words(tmp_path):
    method = tmp_path / "method.yaml"
    method.write_text('name: x\nversion: "1"\nnormalise:\n  method: minmax\n  range: [0, 100, 5]\nbogus: 1\n')
    with pytest.raises(MethodError) as caught:
        read_method(method)
    message = str(caught.value)
    assert message == (
        f"{method}: normalise.range: expected 2 values, got 3; bogus: not a key the method file has (a typo?)"
    )
    with pytest.raises(MethodError, match="no such method file"):
        read_method(tmp_path / "nope.yaml")
    config = shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    (config / "method.yaml").write_text("[1, 2]\n")
    code, output = coopindex_here("run", "--config", str(config), "--warehouse", str(tmp_path / "w"))
    assert code == 1 and SERVER not in output
    assert "Value error" not in output and "(top)" not in output
    assert str(Path(config / "method.yaml")) in output.replace("\n", "")


def test_messages_print_cell_contents_verbatim():
    code = "from flows.console import fail; fail('bad cell root:x:0:0 [red]z[/]', ValueError(':x: [b]'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stdout == "error: bad cell root:x:0:0 [red]z[/]\n:x: [b]\n"
