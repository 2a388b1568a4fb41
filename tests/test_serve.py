"""`coopindex serve --port P` with its own server, and the runs of its deployments as an operator
makes them: the UI on that port, the documented trigger and artifact commands, a scheduled run
waiting for the deployment's slot, a run failed by bad data, and finally SIGTERM with a run in
flight, which must leave no process behind and free the port (that test ends the serve, so it
comes last). Serve against a server it did not start is in test_deployments.py."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest

from tasks.warehouse.catalog import PROJECT_ROOT
from tests.prefect_processes import (
    BRISK_SERVER,
    PATIENCE_S,
    SHANGHAI,
    Serving,
    artifacts,
    check_artifacts,
    client,
    family,
    finished,
    free_port,
    prefect_env,
    signal_and_check,
    start_serving,
    stop,
    subflow,
    wait_async,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def serving(prefect_db, tmp_path_factory) -> Iterator[Serving]:
    """`coopindex serve --port P` with its own PREFECT_HOME, once its deployments are served."""
    folder = tmp_path_factory.mktemp("serving")
    served = start_serving(
        folder, prefect_env(folder / "prefect-home", prefect_db) | BRISK_SERVER, free_port()
    )
    try:
        yield served
    finally:
        stop(served.process)


def test_serve_on_a_port_starts_its_own_server_whose_ui_calls_that_port(serving):
    """Without PREFECT_API_URL serve starts a real server (the temporary one of `coopindex run`
    has no scheduler) on --port, and the UI it serves calls the API on that port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{serving.port}/ui-settings", timeout=30) as response:
        settings = json.load(response)
    assert settings["api_url"] == serving.api_url == f"http://127.0.0.1:{serving.port}/api"
    assert len(family(serving.process)) >= 2  # the server and the runner
    log = serving.log.read_text()
    assert f"Prefect UI:  http://127.0.0.1:{serving.port}" in log, log[-3000:]
    assert (serving.log.parent / "prefect-home" / "server.log").is_file()


def documented_prefect_lines() -> list[list[str]]:
    """Every `PREFECT_API_URL=… .venv/bin/prefect …` line of a sh block in README.md and docs/."""
    from tests.test_docs import DOCS, blocks

    found = []
    for path in DOCS:
        for block in blocks(path, "sh"):
            found += [shlex.split(line) for line in block.splitlines() if line.startswith("PREFECT_API_URL=")]
    return found


def test_the_documented_commands_run_editions_one_at_a_time_with_their_artifacts(
    serving, warehouse, tmp_path
):
    """The trigger and artifact commands of the docs, as written, at the serve's port (instead of
    4200) and with a temporary warehouse. Meanwhile a parameter-less run scheduled for 2020-06-01
    06:00 Shanghai must score 2019, after the triggered one (the deployment's limit of one). Each
    edition is published with its manifest, and both the edition's run and the deployment's run
    (the one the user opens) hold the ranking, the summary and the links."""
    lines = documented_prefect_lines()
    triggers = [line for line in lines if line[2:4] == ["deployment", "run"]]
    inspects = [line for line in lines if line[2:4] == ["artifact", "inspect"]]
    assert {line[4] for line in triggers} == {
        "scheduled-edition/annual-edition",
        "trade-refresh/monthly-trade-refresh",
    }
    assert inspects, lines

    def run(line: list[str], warehouse_dir: Path | None = None) -> str:
        setting, program, *args = line
        assert setting == "PREFECT_API_URL=http://127.0.0.1:4200/api" and program == ".venv/bin/prefect", line
        if warehouse_dir is not None:  # the documented one, if any, replaced
            args = _without_param(args, "warehouse_dir") + ["-p", f"warehouse_dir={warehouse_dir}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
            "PREFECT_API_URL": serving.api_url,
            "PREFECT_HOME": str(tmp_path / "client-home"),  # nothing shared with the server's state
            "COLUMNS": "1000",  # rich wraps the JSON it prints at the terminal's width
        }
        done = subprocess.run(
            [sys.executable, "-m", "prefect", *args], env=env, cwd=PROJECT_ROOT, capture_output=True,
            text=True, timeout=PATIENCE_S,
        )  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode == 0 and "Traceback" not in output, f"{shlex.join(line)}:\n{output[-3000:]}"
        return output

    annual = next(line for line in triggers if line[4] == "scheduled-edition/annual-edition")
    output = run(annual, warehouse)
    assert f"http://127.0.0.1:{serving.port}/runs/flow-run/" in output, output
    triggered_id = UUID(re.search(r"/runs/flow-run/([0-9a-f-]{36})", output)[1])
    scheduled_for = datetime(2020, 6, 1, 6, tzinfo=SHANGHAI)

    async def scenario(prefect_client):
        from prefect.states import Scheduled

        [annual_deployment] = [
            d for d in await prefect_client.read_deployments() if d.name == "annual-edition"
        ]
        scheduled = await prefect_client.create_flow_run_from_deployment(
            annual_deployment.id,
            parameters={"warehouse_dir": str(warehouse)},
            state=Scheduled(scheduled_time=scheduled_for),
        )
        ids = triggered_id, scheduled.id
        runs = await wait_async(
            lambda: finished(prefect_client, *ids), "the runs", 2 * PATIENCE_S, serving.process
        )
        subflows = {r.id: await subflow(prefect_client, r.id) for r in runs}
        found = {r.id: await artifacts(prefect_client, r.id) for r in [*runs, *subflows.values()]}
        return runs, subflows, found

    (triggered, scheduled), subflows, found = asyncio.run(client(serving.api_url, scenario))
    for done in (triggered, scheduled):
        assert done.state.is_completed(), (done.name, done.state)
    assert (triggered.name, scheduled.name) == ("annual-edition-2018", "annual-edition-2019")
    assert scheduled.parameters == {"warehouse_dir": str(warehouse)}
    assert scheduled.expected_start_time == scheduled_for
    for done, edition in ((triggered, 2018), (scheduled, 2019)):
        child = subflows[done.id]
        assert child.parameters["edition"] == edition and child.name == f"edition-{edition}"
        assert (warehouse / f"edition={edition}" / "scores.parquet").is_file()
        manifest = json.loads((warehouse / f"edition={edition}" / "manifest.json").read_text())
        assert manifest["flow_run_id"] == str(child.id)
        assert manifest["parameters"]["raw_dir"] == str((PROJECT_ROOT / "raw").resolve())
        for holder in (child, done):
            check_artifacts(found[holder.id], edition, warehouse, keyed=holder is child)
    first, second = sorted((triggered, scheduled), key=lambda r: r.start_time)
    assert first.end_time <= second.start_time  # one run of the deployment at a time

    for line in inspects:
        shown = run(line)
        assert "Edition 2018 published" in shown, shown[-3000:]
        assert re.search(r"\|\s*dataset\s*\|\s*rows\s+in\s*\|", shown), shown[-3000:]
    for line in triggers:
        if line is not annual:
            output = run(line, tmp_path / "other-warehouse")
            assert "Created flow run" in output, output
            # Only the command is checked here: its run (an ingest of every trade file the edition
            # reads into a new warehouse, then the edition) would run behind the next tests for
            # nothing, so it is cancelled (a scheduled one before it starts, a started one killed).
            created = UUID(re.search(r"/runs/flow-run/([0-9a-f-]{36})", output)[1])
            asyncio.run(client(serving.api_url, lambda c, run_id=created: cancel(c, run_id, serving.process)))


def test_a_failed_run_leaves_its_errors(serving, raw_copy, warehouse):
    """A run stopped by bad data: the edition's run and the deployment's run each list the
    problems (file, line, column, expected, found), and link to the run's Data Docs."""
    fx = raw_copy / "reference" / "fx_rates.csv"
    fx.write_text(fx.read_text().replace("2018,USD,", "2018,usd,"))

    async def failed_run(prefect_client):
        [annual] = [d for d in await prefect_client.read_deployments() if d.name == "annual-edition"]
        paths = {"raw_dir": str(raw_copy), "warehouse_dir": str(warehouse)}
        run = await prefect_client.create_flow_run_from_deployment(
            annual.id, parameters={"edition": 2018, **paths}
        )
        [run] = await wait_async(
            lambda: finished(prefect_client, run.id), "the run", 2 * PATIENCE_S, serving.process
        )
        child = await subflow(prefect_client, run.id)
        return run, child, {r.id: await artifacts(prefect_client, r.id) for r in (run, child)}

    run, child, found = asyncio.run(client(serving.api_url, failed_run))
    assert run.state.is_failed() and child.state.is_failed(), (run.state, child.state)
    assert child.name == "edition-2018"
    for holder in (child, run):
        [errors] = [a for a in found[holder.id] if a.type == "table"]
        rows = json.loads(errors.data)
        assert {"file", "line", "column", "expected", "found"} <= set(rows[0])
        fx_rows = [r for r in rows if r["file"] == "raw/reference/fx_rates.csv"]
        assert fx_rows and fx_rows[0]["column"] == "currency" and fx_rows[0]["line"] > 1, rows
        assert "usd" in fx_rows[0]["found"], rows
        assert errors.key == ("edition-2018-errors" if holder is child else None)


def test_sigterm_during_a_run_stops_the_run_too(serving, warehouse):
    """Last: it ends the module's serve."""

    async def start_run(prefect_client):
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        [annual] = await prefect_client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["annual-edition"]))
        )
        run = await prefect_client.create_flow_run_from_deployment(
            annual.id, parameters={"edition": 2018, "warehouse_dir": str(warehouse)}
        )

        async def running():
            state = (await prefect_client.read_flow_run(run.id)).state
            assert not state.is_final(), state
            return state.is_running()

        await wait_async(running, "the run to be Running", serving=serving.process)

    asyncio.run(client(serving.api_url, start_run))
    processes = family(serving.process)
    names = [" ".join(p.cmdline()) for p in processes]
    assert any("prefect.engine" in n or "multiprocessing" in n for n in names), names  # the flow run
    signal_and_check(serving, signal.SIGTERM, processes, own_server=True)


async def cancel(prefect_client, flow_run_id: UUID, serving: subprocess.Popen) -> None:
    """Cancel a flow run and wait until it is final: one not yet started is Cancelled at once, one
    the runner started is set Cancelling, for the runner to kill its process."""
    from prefect.states import Cancelled, Cancelling

    state = (await prefect_client.read_flow_run(flow_run_id)).state
    if not state.is_final():
        await prefect_client.set_flow_run_state(
            flow_run_id, Cancelled() if state.is_scheduled() else Cancelling(), force=True
        )
    await wait_async(lambda: finished(prefect_client, flow_run_id), "the cancelled run", PATIENCE_S, serving)


def _without_param(args: list[str], name: str) -> list[str]:
    """`args` without `-p name=…`."""
    out: list[str] = []
    for arg in args:
        if arg.startswith(f"{name}=") and out and out[-1] == "-p":
            out.pop()
        else:
            out.append(arg)
    return out
