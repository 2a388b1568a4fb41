"""Backfills: which editions run and why, what each run records, and real Prefect runs that publish,
skip what is current and survive a failure."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import flows.edition  # noqa: F401 - Prefect sets up its console logging on this import: not inside CliRunner
from flows.backfill import backfill_command, runs_command
from flows.backfill_runner import backfill
from flows.console import NoTracebackForDataErrors
from tasks.edition.backfill import (
    Attempt,
    Planned,
    clip,
    edition_range,
    error_message,
    failed_record,
    headline,
    is_data_error,
    plan,
    published_record,
    short_commit,
    skipped_row,
    summary_row,
    summary_table,
    worker_died_record,
)
from tasks.edition.errors import EditionBusyError, MissingInputError
from tasks.edition.inputs import edition_inputs, is_current
from tasks.engine.method import MethodError
from tasks.quality.load import LoadError
from tasks.quality.validation import DataValidationError
from tasks.trade.ingest import BlockedFilesError
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tasks.warehouse.runs import list_runs, write_run_log
from tests.conftest import copy_warehouse, tree_digest

EDITIONS = range(2013, 2021)  # every year of the shipped sample
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")


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


@pytest.fixture()
def published(published_2018, raw_copy, tmp_path) -> Catalog:
    """A private raw/ and config/ (side by side: the manifest keys inputs by their path from raw/'s
    parent) and a warehouse where 2018 is published by the real flow from those very files."""
    config = shutil.copytree(PROJECT_ROOT / "config", tmp_path / "config")
    warehouse = copy_warehouse(published_2018[0], tmp_path / "warehouse")
    return Catalog(raw=raw_copy, warehouse=warehouse, config=config)


def attempt(edition: int = 2018, reason: str = "forced", seconds: float = 12.5) -> Attempt:
    started = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    return Attempt(edition, reason, started, started + timedelta(seconds=seconds), seconds, "flow-run-1")


def raised(exc: Exception) -> Exception:
    """`exc` with a traceback, as a failed run hands it over."""
    try:
        raise exc
    except Exception as caught:  # noqa: BLE001 - the point
        return caught


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


# --- the plan and the records: tasks.edition.backfill, no Prefect --------------------------


def test_the_range_defaults_to_the_years_of_raw_trade_data(raw_copy, tmp_path):
    catalog = Catalog(raw=raw_copy)
    assert edition_range(catalog, None, None) == (2013, 2020)
    assert edition_range(catalog, 2016, None) == (2016, 2020)
    assert edition_range(catalog, None, 2014) == (2013, 2014)
    with pytest.raises(ValueError, match=r"^--to 2018 is before --from 2019$"):
        edition_range(catalog, 2019, 2018)
    empty = Catalog(raw=tmp_path / "nothing")
    assert edition_range(empty, 2018, 2019) == (2018, 2019)  # given: nothing to default from
    with pytest.raises(ValueError, match="no trade data in .*nothing/trade: give --from and --to"):
        edition_range(empty, 2018, None)


def test_the_plan_runs_what_is_not_current_and_says_why(published, raw_copy):
    assert plan(published, 2017, 2019) == [
        Planned(2017, True, "not published"),
        Planned(2018, False, "inputs unchanged"),
        Planned(2019, True, "not published"),
    ]
    assert plan(published, 2017, 2019, force=True) == [Planned(e, True, "forced") for e in (2017, 2018, 2019)]
    assert plan(published, 2018, 2018) == [Planned(2018, False, "inputs unchanged")]
    with pytest.raises(ValueError, match="empty"):
        plan(published, 2019, 2018)

    change_value(raw_copy / "trade" / "2019" / "2019-03.csv")  # read by 2019 (and 2020, 2021) only
    assert plan(published, 2018, 2018) == [Planned(2018, False, "inputs unchanged")]
    change_value(raw_copy / "trade" / "2016" / "2016-07.csv")  # 2018's import base (lag 2)
    assert plan(published, 2018, 2018) == [Planned(2018, True, "raw/trade/2016/2016-07.csv changed")]
    assert plan(published, 2018, 2018, force=True) == [Planned(2018, True, "forced")]


def test_a_skipped_edition_reports_its_published_run(published, published_2018):
    summary = published_2018[1]
    row = skipped_row(published, 2018, "inputs unchanged")
    manifest = json.loads(published.manifest(2018).read_text())
    assert row == {
        "edition": 2018,
        "status": "skipped",
        "duration_s": 0.0,
        "rows": manifest["row_counts"]["inputs"]["trade_records"],
        "top_city": "Ningbo",
        "run_id": summary["run_id"],
        "flow_run_id": manifest["flow_run_id"],
        "reason": "inputs unchanged",
    }
    assert row["rows"] > 500_000 and row["flow_run_id"]
    assert skipped_row(published, 2017, "why")["run_id"] is None  # nothing published: nothing to say


def test_a_published_run_records_its_version_facts(published, published_2018):
    summary = published_2018[1]
    record = published_record(published, attempt(reason="not published"), summary["run_id"], summary["top"])
    manifest = json.loads(published.manifest(2018).read_text())
    assert record == {
        "edition": 2018,
        "reason": "not published",
        "status": "published",
        "run_id": summary["run_id"],
        "rows": manifest["row_counts"]["inputs"]["trade_records"],
        "top_city": "Ningbo",
        "git_commit": manifest["git_commit"],
        "duration_s": 12.5,
        "flow_run_id": "flow-run-1",
        "started_at": "2024-05-01T08:30:00+00:00",
        "finished_at": "2024-05-01T08:30:12.500000+00:00",
        "parameters": {
            "edition": 2018,
            "raw_dir": str(published.raw),
            "warehouse_dir": str(published.warehouse),
            "config_dir": str(published.config),
        },
    }
    row = {key: record[key] for key in ("edition", "status", "duration_s", "rows", "top_city", "run_id")}
    assert summary_row(record) == row | {"flow_run_id": "flow-run-1", "reason": "not published"}


def test_a_failed_run_keeps_the_run_id_of_its_reports_and_a_traceback_only_for_bugs(published):
    flow_run = "20240501T083000Z-0badf00d"
    error = raised(DataValidationError([]))
    error.reports = {"data_docs": str(published.data_docs(flow_run) / "index.html")}
    record = failed_record(published, attempt(), error)
    assert record["status"] == "failed" and record["run_id"] == flow_run
    assert (
        record["error"] == "0 critical data checks failed:" and record["error_type"] == "DataValidationError"
    )
    assert record["traceback"] is None and record["reason"] == "forced" and record["duration_s"] == 12.5
    assert summary_row(record)["reason"] == record["error"]

    bug = failed_record(published, attempt(), raised(KeyError("top")))
    assert bug["error"] == "KeyError: 'top'" and bug["error_type"] == "KeyError"
    assert "Traceback" in bug["traceback"] and "raise exc" in bug["traceback"]
    assert RUN_ID.fullmatch(bug["run_id"]) and bug["run_id"].startswith("20240501T083000Z-")
    elsewhere = raised(LoadError("raw/x.csv", "bad"))
    elsewhere.reports = {"data_docs": "/somewhere/else/runs/20240101T000000Z-00000000/index.html"}
    assert failed_record(published, attempt(), elsewhere)["run_id"].startswith("20240501T083000Z-")


def test_a_dead_worker_is_recorded_with_how_to_avoid_it():
    now = datetime(2024, 5, 1, 9, tzinfo=UTC)
    record = worker_died_record(2019, "not published", RuntimeError("pool broke"), now)
    assert record["run_id"].startswith("20240501T090000Z-") and record["status"] == "failed"
    assert record["error"].startswith("the worker process running it died (RuntimeError: pool broke)")
    assert "__main__" in summary_row(record)["reason"] and record["duration_s"] == 0.0


def test_run_logs_and_manifests_make_the_run_list(published, published_2018):
    """A published run log whose version is gone is "replaced"; a failed one keeps its error."""
    summary = published_2018[1]
    old = published_record(published, attempt(), "20200101T000000Z-00000000", "CN001")
    write_run_log(published, old)
    failed = failed_record(published, attempt(2019), raised(MissingInputError("raw/trade/2019 is missing")))
    write_run_log(published, failed)
    runs = list_runs(published).set_index("run_id")
    assert runs.loc[summary["run_id"], "status"] == "published"  # the manifest wins over any run log
    assert runs.loc[old["run_id"], ["status", "top_city"]].tolist() == ["replaced", "CN001"]
    assert runs.loc[failed["run_id"], ["status", "error"]].tolist() == ["failed", "raw/trade/2019 is missing"]
    assert runs.loc[failed["run_id"], "duration_s"] == 12.5


def test_the_summary_table_has_one_typed_row_per_edition(published):
    rows = [
        skipped_row(published, 2018, "inputs unchanged"),
        summary_row(worker_died_record(2019, "not published", OSError("gone"))),
    ]
    table = summary_table(rows)
    assert list(table["edition"]) == [2018, 2019] and list(table["status"]) == ["skipped", "failed"]
    assert str(table["rows"].dtype) == "Int64" and table["rows"].isna().tolist() == [False, True]
    assert table["duration_s"].dtype == "float64"


@pytest.mark.parametrize(
    ("exc", "data"),
    [
        (DataValidationError([]), True),
        (BlockedFilesError([]), True),
        (LoadError("raw/x.csv", "bad value", line=3), True),
        (MethodError("no such method"), True),
        (MissingInputError("raw/reference/cities.csv is missing"), True),
        (EditionBusyError("edition 2018 is being scored by another run"), True),
        (KeyError("top"), False),
        (ValueError("bug"), False),
        (OSError("disk"), False),
    ],
)
def test_data_errors_say_what_is_wrong_without_a_traceback(exc, data):
    assert is_data_error(exc) is data
    message = error_message(exc)
    assert message == str(exc).strip() if data else message == f"{type(exc).__name__}: {exc}"
    record = logging.LogRecord(
        "prefect.flow_runs", logging.ERROR, __file__, 1, "failed", None, (type(exc), exc, None)
    )
    assert NoTracebackForDataErrors().filter(record) and (record.exc_info is None) is data


def test_messages_fit_the_tables():
    long = "3 critical data checks failed:\n- [trade] a\n- [trade] b\n- [trade] c\n- [trade] d"
    assert headline(long) == "3 critical data checks failed: - [trade] a"
    assert headline("x" * 200, width=20) == "x" * 17 + "..."
    assert (
        clip(long)
        == "3 critical data checks failed:\n- [trade] a\n- [trade] b\n- [trade] c\n... and 1 more lines"
    )
    assert clip("one line") == "one line"
    assert short_commit("0123456789abcdef0123+dirty") == "0123456789ab+dirty"
    assert short_commit(None) == "-" and short_commit(float("nan")) == "-"


def test_the_plan_and_records_import_no_prefect_typer_or_rich():
    layers = "{'prefect', 'typer', 'rich', 'flows'}"
    code = f"import sys, tasks.edition.backfill; print(sorted({layers} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


# --- real backfills -----------------------------------------------------------------------


@pytest.mark.slow
def test_backfill_publishes_skips_what_is_current_and_reruns_two_at_once_through_a_failure(
    prefect_server, published
):
    """One real backfill story: publish what is missing, skip what is current, then a forced
    re-run of two editions at once in which one fails on a broken file while the other is
    published again with the same bytes."""
    app = typer.Typer()
    app.command("backfill")(backfill_command)
    app.command("runs")(runs_command)
    cli = CliRunner()
    folders = {"raw_dir": published.raw, "warehouse_dir": published.warehouse, "config_dir": published.config}
    run = {name: str(path) for name, path in folders.items()} | {"progress": False}
    where = [
        "--raw",
        str(published.raw),
        "--warehouse",
        str(published.warehouse),
        "--config",
        str(published.config),
    ]
    pristine_2018 = json.loads(published.manifest(2018).read_text())["run_id"]

    result = cli.invoke(app, ["backfill", "--from", "2019", "--to", "2018", *where])
    assert result.exit_code == 1 and "error: --to 2018 is before --from 2019" in result.stdout

    first = backfill(2018, 2019, parallel=2, **run)
    assert by_edition(first) == {2018: ("skipped", "inputs unchanged"), 2019: ("published", "not published")}
    assert (first["rows"] > 500_000).all() and first["flow_run_id"].notna().all()
    assert first.set_index("edition").loc[2018, "run_id"] == pristine_2018
    for row in first[first["status"] == "published"].itertuples():
        log = json.loads(published.run_log(row.run_id).read_text())
        assert log["status"] == "published" and log["flow_run_id"] == row.flow_run_id
        assert log["rows"] == row.rows and log["top_city"] == row.top_city
    data = parquet_digest(published.warehouse)
    before = tree_digest(published.warehouse)

    again = backfill(2018, 2019, **run)
    assert by_edition(again) == {e: ("skipped", "inputs unchanged") for e in (2018, 2019)}
    assert list(again["run_id"]) == list(first["run_id"])
    assert tree_digest(published.warehouse) == before  # nothing ran, nothing was written
    result = cli.invoke(app, ["backfill", "--from", "2018", "--to", "2018", *where])
    assert result.exit_code == 0 and "0 published, 1 skipped, 0 failed" in result.stdout, result.output

    path = published.raw / "trade" / "2020" / "2020-02.csv"  # read by 2020 alone of these
    lines = path.read_text().splitlines()
    for number in range(10, 30):  # 20 negative values: a broken file, not 1 bad row
        fields = lines[number].split(",")
        fields[5] = "-" + fields[5]
        lines[number] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")

    result = cli.invoke(
        app, ["backfill", "--from", "2019", "--to", "2020", "--force", "--parallel", "2", *where]
    )
    assert result.exit_code == 1, result.output
    assert "1 published, 0 skipped, 1 failed" in result.stdout
    row_2020 = next(line for line in result.stdout.splitlines() if "2020" in line and "failed" in line)
    assert "critical data check failed" in row_2020
    assert "raw/trade/2020/2020-02.csv, line 11, column 'value'" in result.stdout
    assert "Traceback" not in result.output
    assert parquet_digest(published.warehouse) == data  # the forced 2019: byte-identical data files
    assert not published.edition_dir(2020).exists() and 2020 not in published.published_editions()
    assert is_current(published, 2018) == (True, "inputs unchanged")

    runs = list_runs(published)
    assert len(runs) == 4 and runs["started_at"].is_monotonic_decreasing
    forced_2019 = runs[(runs["edition"] == 2019) & (runs["status"] == "published")].iloc[0]
    assert json.loads(published.manifest(2019).read_text())["run_id"] == forced_2019["run_id"]
    assert sorted(runs.loc[runs["status"] == "published", "edition"]) == [2018, 2019]
    assert runs.loc[runs["status"] == "superseded", "run_id"].tolist() == [first.loc[1, "run_id"]]
    assert (
        runs["flow_run_id"].notna().all() and (runs.loc[runs["status"] != "failed", "duration_s"] > 0).all()
    )
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["edition"] == 2020 and "2020-02.csv, line 11" in failed["error"]
    assert f"run logs: {published.run_log(failed['run_id'])}" in result.stdout
    log = json.loads(published.run_log(failed["run_id"]).read_text())
    assert log["status"] == "failed" and log["error_type"] == "BlockedFilesError" and log["flow_run_id"]
    assert log["traceback"] is None
    assert (published.data_docs(failed["run_id"]) / "index.html").exists()

    listing = cli.invoke(app, ["runs", "--warehouse", str(published.warehouse)])
    assert listing.exit_code == 0, listing.output
    assert listing.stdout.count("published") == 2 and "superseded" in listing.stdout, listing.stdout
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
