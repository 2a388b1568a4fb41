"""The `coopindex` command line: run an edition, show a published one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

import flows  # noqa: F401 - sets Prefect defaults before Prefect is imported
from flows.backfill import backfill_command, runs_command
from flows.bench import bench_command
from flows.console import console, leave
from flows.console import fail as _fail
from flows.console import quiet_data_errors as _quiet_data_errors
from flows.options import ConfigDir, RawDir, WarehouseDir, path_text
from flows.score import compare_command, score_command
from tasks.warehouse.catalog import Catalog

app = typer.Typer(
    help="coopindex: score Chinese cities' cooperation with the CEEC countries, edition by edition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Edition = Annotated[
    int, typer.Option("--edition", "-e", help="Data year to score (the 2019 evaluation scored 2018).")
]
Top = Annotated[int | None, typer.Option(help="How many cities to show (default: the method's top_n).")]


@app.command()
def run(
    edition: Edition = 2018,
    raw: RawDir = None,
    warehouse: WarehouseDir = None,
    config: ConfigDir = None,
    top: Top = None,
) -> None:
    """Run the Prefect flow that scores one edition and publishes it, then print the top cities."""
    _preflight(_catalog(raw, warehouse, config), edition)
    from flows import workers
    from flows.ephemeral import start

    server = start()  # before Prefect is imported: it comes up while the steps are imported
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        PREFECT_UI_URL,
        temporary_settings,
    )

    from flows.backfill_runner import wait_for_task_records
    from flows.edition import score_edition
    from tasks.edition.errors import DATA_ERRORS, EditionBusyError
    from tasks.edition.pipeline import EDITION

    # One flow run per command: the heartbeat thread would only add ~1 s at exit.
    settings: dict = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if server is not None and not server.needed():
        server = None  # the profile names a server
    if server is not None:
        import great_expectations  # noqa: F401 - the first checks need it: imported while the server starts

        server.wait(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
        settings |= {PREFECT_API_URL: server.api_url, PREFECT_UI_URL: ""}  # no UI: no "View at" link
    workers.start()  # the report's second process: it imports while the first steps run
    _quiet_data_errors()
    with temporary_settings(settings):
        state = score_edition(
            edition, path_text(raw), path_text(warehouse), path_text(config), return_state=True
        )
        # The temporary server stops when this command exits: let it record the task runs first
        # (a completed run ran every step as a task).
        expected = len(EDITION.steps) if state.is_completed() else None
        run_id = str(state.state_details.flow_run_id)
        wait_for_task_records([run_id], always=server is not None, expected=expected)
        try:
            summary = state.result()
        except DATA_ERRORS as exc:
            for name, path in getattr(exc, "reports", {}).items():
                console.print(f"{name.replace('_', ' ')}: {path}", highlight=False)
            _fail(f"edition {edition} was not published: the inputs have problems", exc)
        except EditionBusyError as exc:
            _fail(f"edition {edition} was not published", exc)
    workers.stop()
    if server is not None:
        server.stop_soon()
    console.print(f"[green]Published edition {edition}[/] to {summary['path']} (run {summary['run_id']})")
    console.print(f"report: {_edition_report(edition, warehouse, config)}", highlight=False)
    if summary["quarantined_rows"]:
        console.print(
            f"{summary['quarantined_rows']} bad row(s) quarantined: see quarantine.parquet in the edition"
        )
    show(edition=edition, warehouse=warehouse, config=config, top=top)


@app.command()
def ingest(
    year: Annotated[
        list[int] | None, typer.Option("--year", "-y", help="Data year to ingest (repeatable; default: all).")
    ] = None,
    runner: Annotated[
        str, typer.Option(help="Where the per-file work runs: local (process pool) or dask.")
    ] = "local",
    workers: Annotated[
        int, typer.Option(help="Worker processes (local pool, or the local Dask cluster).")
    ] = 2,
    dask_address: Annotated[
        str | None, typer.Option(help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (--runner dask).")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Re-read, re-hash and re-ingest every file, changed or not.")
    ] = False,
    raw: RawDir = None,
    warehouse: WarehouseDir = None,
    config: ConfigDir = None,
) -> None:
    """Validate raw trade files into clean Parquet facts (warehouse/trade), new or changed files only."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.backfill_runner import wait_for_task_records
    from flows.ingest import RUNNERS, shared_api, with_runner

    if runner not in RUNNERS:
        _fail(f"unknown runner {runner!r}: expected one of {', '.join(RUNNERS)}", None)
    if dask_address and runner != "dask":
        _fail("--dask-address needs --runner dask", None)
    _quiet_data_errors()
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), shared_api():
        flow = with_runner(runner, workers, dask_address)  # type: ignore[arg-type]
        state = flow(
            year or None, path_text(raw), path_text(warehouse), path_text(config), force, return_state=True
        )
        wait_for_task_records([str(state.state_details.flow_run_id)], always=True)
        try:
            summary = state.result()
        except _data_errors() as exc:
            _fail("the trade store was not updated: the raw files have problems", exc)
    console.print(
        f"[green]Trade store updated[/]: {len(summary['ingested'])} file(s) ingested, "
        f"{len(summary['reused'])} reused, {summary['rows_in']:,} rows in, "
        f"{summary['rows_quarantined']:,} quarantined ({summary['store']})"
    )


@app.command()
def validate(
    edition: Edition = 2018,
    raw: RawDir = None,
    warehouse: WarehouseDir = None,
    config: ConfigDir = None,
) -> None:
    """Run every check an edition runs (GX suites, triage, cross-dataset checks) and write
    nothing: the warehouse is left as it was. Exit 1 on anything that would stop a run."""
    from tasks.edition.pipeline import CHECKS, start
    from tasks.warehouse.scratch import scratch

    catalog = _catalog(raw, warehouse, config)
    _preflight(catalog, edition, writes=False)
    # Trade files new or changed since the last ingest are checked in a scratch copy of the store.
    with scratch(catalog) as dry:
        data = start(dry, edition)
        try:
            CHECKS.between(last="validate-inputs").run(data)
        except _data_errors() as exc:
            _fail(f"edition {edition}: the inputs cannot be read", exc)
        checked = data["checked"]
        outcomes, blocking = checked.outcomes, checked.blocking
        if not blocking:
            try:
                CHECKS.between(first="check-inputs").run(data)
            except _data_errors() as exc:
                _fail(f"edition {edition}: a cross-dataset check failed", exc)
            outcomes = outcomes + data["derived"]
    view = Table(title=f"Validation of edition {edition}'s inputs")
    for column in ("dataset", "rows", "checks", "critical failed", "warnings", "quarantined"):
        view.add_column(column, justify="left" if column == "dataset" else "right")
    removed = {t.dataset: t.removed for t in checked.triages}
    for outcome in outcomes:
        failed = sum(f.severity == "critical" for f in outcome.failures)
        counts = [outcome.rows, len(outcome.results), failed, len(outcome.failures) - failed]
        view.add_row(outcome.dataset, *map(str, counts), str(removed.get(outcome.dataset, 0)))
    console.print(view)
    for failure in (f for o in outcomes for f in o.failures):
        console.print(
            f"{failure.severity}: [{failure.dataset}] {failure.describe()}", markup=False, highlight=False
        )
    if blocking:
        console.print(
            f"[bold red]{len(blocking)} problem(s) block:[/] edition {edition} would not be published"
        )
        sys.exit(1)
    quarantined = sum(removed.values())
    note = f", {quarantined} row(s) would be quarantined" if quarantined else ""
    console.print(f"[green]edition {edition}'s inputs pass every critical check{note}[/]")


@app.command()
def report(
    edition: Annotated[
        int | None, typer.Option("--edition", "-e", help="Published edition to (re)build the report of.")
    ] = None,
    all_editions: Annotated[
        bool, typer.Option("--all", help="Rebuild every published edition's report and the editions' index.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the report (default: warehouse/report/edition=N/).")
    ] = None,
    raw: RawDir = None,
    warehouse: WarehouseDir = None,
    config: ConfigDir = None,
) -> None:
    """Write the static HTML report of a published edition, or of every edition with --all.

    Each published edition already carries its report (warehouse/edition=N/report/); this
    rebuilds it against the editions published now, without touching the published versions.
    """
    from tasks.report.build import rebuild_report, write_index

    if (edition is None) == (not all_editions):
        _fail("give --edition N or --all", None)
    catalog = _catalog(raw, warehouse, config)
    editions = catalog.published_editions() if all_editions else [edition]
    if not editions:
        _fail(f"no edition is published in {catalog.warehouse}", None)
    try:
        for year in editions:
            target = out / f"edition={year}" if out and all_editions else out
            console.print(f"edition {year}: {rebuild_report(catalog, year, target)}", highlight=False)
        if all_editions:
            console.print(f"every edition: {write_index(catalog)}", highlight=False)
    except _data_errors() as exc:
        _fail("the report could not be written", exc)


@app.command()
def show(
    edition: Edition = 2018,
    warehouse: WarehouseDir = None,
    config: ConfigDir = None,
    top: Top = None,
) -> None:
    """Print the ranking of a published edition: rank, city, index and the five dimension scores."""
    from tasks.engine.framework import Framework
    from tasks.engine.method import read_method
    from tasks.engine.results import top_table
    from tasks.quality import load

    catalog = _catalog(None, warehouse, config)
    path = catalog.dataset(edition, "scores")
    if not path.exists():
        _fail(f"edition {edition} is not published in {catalog.warehouse}", None)
    try:
        framework = Framework.from_table(load.read_csv(catalog.framework, load.FRAMEWORK))
        n = top or read_method(catalog.method).results.top_n
    except _data_errors() as exc:
        _fail("cannot read the framework or method", exc)
    scores = pd.read_parquet(path)
    table = top_table(scores, framework, n)
    names = framework.column("name")
    view = Table(title=f"China-CEEC cooperation index, edition {edition}: top {n}")
    view.add_column("rank", justify="right")
    view.add_column("city")
    for code in table.columns[3:]:
        view.add_column(names[code], justify="right")
    for row in table.itertuples(index=False):
        view.add_row(str(row[0]), str(row[2]), *[_fmt(v) for v in row[3:]])
    console.print(view)
    index = scores[scores["node"] == framework.root]["score"]
    console.print(f"mean of the top {n}: {index.nlargest(n).mean():.5f}")


@app.command()
def export(
    xlsx: Annotated[Path, typer.Option("--xlsx", help="The Excel workbook to write (.xlsx).")],
    edition: Edition = 2018,
    raw: RawDir = None,
    warehouse: WarehouseDir = None,
    config: ConfigDir = None,
) -> None:
    """Write a published edition as an Excel workbook: the one the edition carries as
    edition-N.xlsx (ranking, scores, indicators, trade, analysis, quality)."""
    from tasks.report.workbook import write_workbook  # XlsxWriter only when exporting

    catalog = _catalog(raw, warehouse, config)
    if not catalog.dataset(edition, "scores").exists():
        _fail(f"edition {edition} is not published in {catalog.warehouse}", None)
    folder = catalog.edition_dir(edition).resolve()  # one version, even if a run publishes meanwhile
    try:
        written = write_workbook(catalog, edition, folder, xlsx)
    except (*_data_errors(), OSError) as exc:  # a file of the edition missing, the target not writable
        _fail(f"edition {edition} could not be exported", exc)
    console.print(f"[green]Wrote edition {edition}[/] to {written}", highlight=False)


@app.command()
def serve(
    limit: Annotated[int, typer.Option(help="At most this many flow runs at once in this process.")] = 2,
    port: Annotated[
        int, typer.Option(help="Port of the Prefect server started if PREFECT_API_URL is unset.")
    ] = 4200,
) -> None:
    """Serve the scheduled deployments (annual edition, monthly trade refresh) until Ctrl-C.

    Schedules, parameters and limits live in flows/deployments.py (the same as prefect.yaml).
    Runs go to the Prefect server at PREFECT_API_URL; without it, one is started on --port
    (state in the project's .prefect/). SIGTERM or Ctrl-C stops the runner, its flow runs and
    that server.
    """
    from flows.serve import serve_command  # imports Prefect: only when serving

    serve_command(limit=limit, port=port)


def _edition_report(edition: int, warehouse: Path | None, config: Path | None) -> Path:
    """The published edition's report, after the editions' index is brought up to date."""
    from tasks.report.build import write_index

    catalog = _catalog(None, warehouse, config)
    write_index(catalog)
    return catalog.edition_report(edition) / "index.html"


def _preflight(catalog: Catalog, edition: int, writes: bool = True) -> None:
    """Stop before any server starts when the folders, the method or the edition's data are missing."""
    from tasks.edition.preflight import preflight

    try:
        preflight(catalog, edition, writes)
    except ValueError as exc:  # PreflightError, MethodError: their message says it all
        _fail(str(exc))


def _fmt(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.4f}"


def _data_errors() -> tuple[type[Exception], ...]:
    """The input errors a command reports in one message; an `except` evaluates this only when
    something was raised, so that their modules (the quality layer) load only then."""
    from tasks.edition.errors import DATA_ERRORS

    return DATA_ERRORS


def _catalog(raw: Path | None, warehouse: Path | None, config: Path | None) -> Catalog:
    return Catalog.at(path_text(raw), path_text(warehouse), path_text(config))


# Backfills and the run list live with their logic (they import no Prefect until they run).
app.command("backfill")(backfill_command)
app.command("runs")(runs_command)
app.command("bench")(bench_command)
app.command("score")(score_command)
app.command("compare")(compare_command)


def main() -> None:
    """The `coopindex` command: the app, its exit handlers, then out at once. The interpreter's
    own teardown frees every object of a run one by one, ~1 s after an edition run (measured)
    with nothing left to write: exit handlers (Prefect's log and event flushes, the temporary
    server's stop, logging's) run first. An exception that is not an exit keeps the usual way out."""
    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    leave(code)


if __name__ == "__main__":
    main()
