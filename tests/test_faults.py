"""Faults as clean errors: one line naming the file and what to do, never retried as I/O faults."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tasks.edition.pipeline import run_edition
from tasks.engine.framework import FrameworkError
from tasks.quality import load
from tasks.quality.load import Kind, LoadError
from tasks.quality.validation import DataValidationError
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog


def test_a_raw_file_linked_outside_raw_is_refused_unread(raw_copy, warehouse):
    month = raw_copy / "trade" / "2018" / "2018-05.csv"
    month.unlink()
    month.symlink_to("/etc/passwd")
    with pytest.raises(LoadError) as error:
        run_edition(Catalog.at(raw_copy, warehouse), 2018)
    assert error.value.kind == Kind.OUTSIDE_RAW
    assert str(error.value).startswith("raw/trade/2018/2018-05.csv: expected a file inside raw/")
    assert "root:" not in str(error.value) and "\n" not in str(error.value)


def test_an_unreadable_raw_file_names_itself_and_says_what_to_do():
    """As root every file is readable: the check then runs as the user nobody, for real."""
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        rates = folder / "fx_rates.csv"
        rates.write_text("year,currency,cny_per_unit\n2018,USD,6.617\n")
        rates.chmod(0o000)
        code = (
            "import sys; from pathlib import Path; from tasks.quality import load\n"
            "try:\n load.read_csv(Path(sys.argv[1]), load.FX_RATES, 'raw/reference/fx_rates.csv')\n"
            "except load.LoadError as e:\n print(e.kind, e)\n"
        )
        as_nobody = (
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        )
        if as_nobody and shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: every file is readable")
        result = subprocess.run(
            [*as_nobody, sys.executable, "-c", code, str(rates)], capture_output=True, text=True, timeout=120,
            cwd=folder, env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)},
        )  # fmt: skip
        assert result.stdout.strip() == (
            "unreadable_file raw/reference/fx_rates.csv: cannot be read: permission denied; give the user "
            "that runs the pipeline read access to it (chmod, chown) and run again"
        ), result.stderr
    finally:
        (folder / "fx_rates.csv").unlink()
        folder.rmdir()


def test_a_year_missing_from_the_fx_rates_names_fx_rates_csv(raw_copy, warehouse):
    rates = raw_copy / "reference" / "fx_rates.csv"
    rates.write_text(
        "".join(line for line in rates.read_text().splitlines(True) if not line.startswith("2018,USD"))
    )
    with pytest.raises(DataValidationError) as error:
        run_edition(Catalog.at(raw_copy, warehouse), 2018)
    text = str(error.value)
    assert text.splitlines()[1].startswith(
        "- [fx_rates] raw/reference/fx_rates.csv: expected a rate for every currency and year of the trade "
        "records, in raw/reference/fx_rates.csv, found no rate for USD in 2018, which "
    )
    assert "of 12 trade file(s) use (first raw/trade/2018/2018-01.csv, line " in text
    assert "add the row '2018,USD,<CNY per USD>' to raw/reference/fx_rates.csv" in text
    assert "raw/trade/2018/2018-02.csv" not in text  # the months are not the fault


def test_a_framework_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "framework.csv"
    rows = (PROJECT_ROOT / "config" / "framework.csv").read_text().splitlines()
    at = next(i for i, row in enumerate(rows) if i and row.split(",")[2])  # a row with a parent
    cells = rows[at].split(",")
    cells[2] = "no_such_parent"
    rows[at] = ",".join(cells)
    path.write_text("\n".join(rows) + "\n")
    table = load.read_csv(path, load.FRAMEWORK, "config/framework.csv", load.FRAMEWORK_SETTINGS)
    from tasks.engine.framework import Framework

    with pytest.raises(FrameworkError) as error:
        Framework.from_table(table)
    assert str(error.value).startswith(f"config/framework.csv, line {at + 1}: parents that are not codes: ")
    assert f"['no_such_parent'] (line {at + 1})" in str(error.value)
