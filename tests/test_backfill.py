"""Backfills with real Prefect: publish, skip what is current, rerun what changed, survive a failure."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import flows.edition  # noqa: F401 - Prefect sets up its console logging on this import: not inside CliRunner
from flows.backfill import backfill, backfill_command, runs_command
from tasks.edition.inputs import edition_inputs, is_current
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tasks.warehouse.runs import list_runs
from tests.conftest import tree_digest

EDITIONS = range(2013, 2021)  # every year of the shipped sample


def change_value(path: Path, line: int = 2) -> None:
    """Change one trade value (1-based file line) to another valid one."""
    lines = path.read_text().splitlines()
    fields = lines[line - 1].split(",")
    fields[5] = f"{float(fields[5]) + 1:.2f}"
    lines[line - 1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


def parquet_digest(warehouse: Path) -> dict[str, str]:
    """sha256 of every data file of every published edition."""
    return {
        f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(warehouse.glob("edition=*/*.parquet"))
    }


def by_edition(table) -> dict[int, tuple[str, str]]:
    return {int(r.edition): (r.status, r.reason) for r in table.itertuples()}


# --- which editions are current: pure, no Prefect ----------------------------------------


def fake_publications(catalog: Catalog, version: str = "1.0.0") -> None:
    """Manifests as the flow writes them (for what is_current reads), for every edition."""
    for edition in EDITIONS:
        folder = catalog.edition_dir(edition)
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {"method": {"version": version}, "inputs": edition_inputs(catalog, edition)}
        (folder / "manifest.json").write_text(json.dumps(manifest | {"expectations": {}}))


def stale(catalog: Catalog) -> dict[int, str]:
    return {e: reason for e in EDITIONS for current, reason in [is_current(catalog, e)] if not current}


def test_a_changed_trade_file_makes_stale_exactly_the_editions_that_read_it(raw_copy, tmp_path):
    catalog = Catalog(raw=raw_copy, warehouse=tmp_path / "warehouse")
    assert is_current(catalog, 2018) == (False, "not published")
    fake_publications(catalog)
    assert stale(catalog) == {}
    assert is_current(catalog, 2018) == (True, "inputs unchanged")

    change_value(raw_copy / "trade" / "2017" / "2017-03.csv")
    # 2017 itself, 2018 (growth over 2017) and 2019 (import base: lag 2); nothing else
    assert stale(catalog) == {e: "raw/trade/2017/2017-03.csv changed" for e in (2017, 2018, 2019)}

    (raw_copy / "trade" / "2020" / "2020-12.csv").unlink()
    assert stale(catalog)[2020] == "raw/trade/2020/2020-12.csv removed"
    shutil.copy(raw_copy / "indicators" / "policy.csv", raw_copy / "indicators" / "policy_2.csv")
    assert set(stale(catalog)) == set(EDITIONS)  # every edition reads every indicator file
    assert stale(catalog)[2014] == "raw/indicators/policy_2.csv added"


def test_a_new_method_version_makes_every_edition_stale(raw_copy, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    catalog = Catalog(raw=raw_copy, warehouse=tmp_path / "warehouse", config=config)
    fake_publications(catalog)
    method = config / "method.yaml"
    method.write_text(method.read_text().replace('version: "1.0.0"', 'version: "1.1.0"'))
    assert stale(catalog) == {e: "method version 1.0.0 -> 1.1.0" for e in EDITIONS}
    method.write_text(method.read_text().replace("top_n: 15", "top_n: 10").replace("1.1.0", "1.0.0"))
    assert stale(catalog)[2013].endswith("config/method.yaml changed")  # same version, new content


# --- real backfills -----------------------------------------------------------------------


def test_backfill_publishes_then_reruns_only_what_changed(prefect_server, raw_copy, warehouse):
    run = dict(raw_dir=str(raw_copy), warehouse_dir=str(warehouse), progress=False)

    first = backfill(2017, 2019, parallel=2, **run)
    assert by_edition(first) == {e: ("published", "not published") for e in (2017, 2018, 2019)}
    assert (first["top_city"] == "Ningbo").all() and (first["rows"] > 500_000).all()
    assert first["flow_run_id"].notna().all()
    published = parquet_digest(warehouse)
    assert len(published) >= 3 * 10
    before = tree_digest(warehouse)

    again = backfill(2017, 2019, **run)
    assert by_edition(again) == {e: ("skipped", "inputs unchanged") for e in (2017, 2018, 2019)}
    assert list(again["run_id"]) == list(first["run_id"])
    assert tree_digest(warehouse) == before  # nothing ran, nothing was written

    forced = backfill(2017, 2019, force=True, **run)
    assert by_edition(forced) == {e: ("published", "forced") for e in (2017, 2018, 2019)}
    assert set(forced["run_id"]).isdisjoint(first["run_id"])
    assert parquet_digest(warehouse) == published  # byte-identical data files
    manifest = Catalog(warehouse=warehouse).manifest(2018)
    assert json.loads(manifest.read_text())["run_id"] == forced.set_index("edition").loc[2018, "run_id"]

    change_value(raw_copy / "trade" / "2019" / "2019-03.csv")  # read by 2019 only (and 2020, 2021)
    assert by_edition(backfill(2017, 2019, **run)) == {
        2017: ("skipped", "inputs unchanged"),
        2018: ("skipped", "inputs unchanged"),
        2019: ("published", "raw/trade/2019/2019-03.csv changed"),
    }
    change_value(raw_copy / "trade" / "2016" / "2016-07.csv")  # 2017's growth, 2018's import base
    assert by_edition(backfill(2017, 2019, **run)) == {
        2017: ("published", "raw/trade/2016/2016-07.csv changed"),
        2018: ("published", "raw/trade/2016/2016-07.csv changed"),
        2019: ("skipped", "inputs unchanged"),
    }

    runs = list_runs(Catalog(warehouse=warehouse))
    assert len(runs) == 3 + 3 + 1 + 2 and runs["started_at"].is_monotonic_decreasing
    current = runs[runs["status"] == "published"]
    assert sorted(current["edition"]) == [2017, 2018, 2019]
    assert (runs["status"].value_counts()[["published", "superseded", "replaced"]] == [3, 3, 3]).all()
    assert runs["flow_run_id"].notna().all() and (runs["duration_s"] > 0).all()


def test_a_failed_edition_does_not_stop_or_touch_the_others(prefect_server, raw_copy, warehouse):
    app = typer.Typer()
    app.command("backfill")(backfill_command)
    app.command("runs")(runs_command)
    cli = CliRunner()
    where = ["--raw", str(raw_copy), "--warehouse", str(warehouse)]

    result = cli.invoke(app, ["backfill", "--from", "2020", "--to", "2020", *where])
    assert result.exit_code == 0, result.output
    published_2020 = tree_digest(Catalog(warehouse=warehouse).edition_dir(2020))

    path = raw_copy / "trade" / "2020" / "2020-02.csv"  # 20 negative values: a broken file, not 1 bad row
    lines = path.read_text().splitlines()
    for number in range(10, 30):
        fields = lines[number].split(",")
        fields[5] = "-" + fields[5]
        lines[number] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")

    result = cli.invoke(app, ["backfill", "--from", "2019", "--to", "2020", "--parallel", "2", *where])
    assert result.exit_code == 1, result.output
    assert "1 published, 0 skipped, 1 failed" in result.stdout
    row_2020 = next(line for line in result.stdout.splitlines() if "2020" in line and "failed" in line)
    assert "critical data check failed" in row_2020
    assert "raw/trade/2020/2020-02.csv, line 11, column 'value'" in result.stdout
    assert "Traceback" not in result.output

    catalog = Catalog(raw=raw_copy, warehouse=warehouse)
    assert is_current(catalog, 2019) == (True, "inputs unchanged")
    assert tree_digest(catalog.edition_dir(2020)) == published_2020  # the previous 2020 stays published
    runs = list_runs(catalog)
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["edition"] == 2020 and "2020-02.csv, line 11" in failed["error"]
    log = json.loads((catalog.run_dir(failed["run_id"]) / "run.json").read_text())
    assert log["status"] == "failed" and log["error_type"] == "BlockedFilesError" and log["flow_run_id"]
    assert (catalog.run_dir(failed["run_id"]) / "data_docs" / "index.html").exists()

    listing = cli.invoke(app, ["runs", "--warehouse", str(warehouse)])
    assert listing.exit_code == 0, listing.output
    assert listing.stdout.count("published") == 2 and "failed" in listing.stdout
    assert f"{failed['run_id']} (edition 2020): 1 critical data check failed" in listing.stdout


@pytest.mark.parametrize("name", ["backfill", "runs"])
def test_commands_have_help(name):
    app = typer.Typer()
    app.command("backfill")(backfill_command)
    app.command("runs")(runs_command)
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout
    options = ["--from", "--to", "--parallel", "--force", "--raw"] if name == "backfill" else ["--limit"]
    assert all(option in result.stdout for option in [*options, "--warehouse"])
