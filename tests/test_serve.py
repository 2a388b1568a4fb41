"""`coopindex serve` as a user runs it, in its own process group: the UI it starts calls the API
on --port, and SIGTERM or SIGINT, idle or with a flow run in flight, leaves no process behind
and frees the port."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import psutil
import pytest

from flows.deployments import DEPLOYMENTS
from flows.serve import healthy
from tasks.warehouse.catalog import PROJECT_ROOT
from tests.test_deployments import (
    PATIENCE_S,
    _artifacts,
    _await,
    _finished,
    _free_port,
    _prefect_env,
    _serve_command,
    _spawn,
    _stop,
    _subflow,
    _wait_for,
)

STOPPED_WITHIN_S = 30  # what a signal may take to end every process of the serve


@dataclass
class Serving:
    process: subprocess.Popen
    port: int
    api_url: str
    log: Path


@pytest.fixture()
def serving(tmp_path) -> Iterator[Serving]:
    """`coopindex serve --port P` with its own PREFECT_HOME, once its deployments are served."""
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = _prefect_env(tmp_path / "prefect-home") | {"PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    log = tmp_path / "serve.log"
    process = _spawn([*_serve_command(), "--port", str(port)], env, log)
    try:
        _wait_for(lambda: healthy(api_url), process, "the server started by serve", log)
        asyncio.run(_client(api_url, lambda c: _await(lambda: _served(c), "deployments", serving=process)))
        yield Serving(process, port, api_url, log)
    finally:
        _stop(process)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_ui_calls_the_api_on_the_port_and_a_signal_stops_everything(serving, sig):
    with urllib.request.urlopen(f"http://127.0.0.1:{serving.port}/ui-settings", timeout=30) as response:
        settings = json.load(response)
    assert settings["api_url"] == serving.api_url
    family = _family(serving.process)
    assert len(family) >= 2, family  # the server and the runner
    _signal_and_check(serving, sig, family)


@pytest.mark.slow
def test_sigterm_during_a_run_stops_the_run_too(serving, warehouse):
    async def start_run(client):
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        [annual] = await client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["annual-edition"]))
        )
        run = await client.create_flow_run_from_deployment(
            annual.id, parameters={"edition": 2018, "warehouse_dir": str(warehouse)}
        )

        async def running():
            state = (await client.read_flow_run(run.id)).state
            assert not state.is_final(), state
            return state.is_running()

        await _await(running, "the run to be Running", serving=serving.process)

    asyncio.run(_client(serving.api_url, start_run))
    family = _family(serving.process)
    names = [" ".join(p.cmdline()) for p in family]
    assert any("prefect.engine" in n or "multiprocessing" in n for n in names), names  # the flow run
    _signal_and_check(serving, signal.SIGTERM, family)


@pytest.mark.slow
def test_a_failed_run_leaves_its_errors(serving, raw_copy, warehouse):
    """A run stopped by bad data: the edition's run and the deployment's run each list the
    problems (file, line, column, expected, found), and link to the run's Data Docs."""
    fx = raw_copy / "reference" / "fx_rates.csv"
    fx.write_text(fx.read_text().replace("2018,USD,", "2018,usd,"))

    async def failed_run(client):
        [annual] = [d for d in await client.read_deployments() if d.name == "annual-edition"]
        paths = {"raw_dir": str(raw_copy), "warehouse_dir": str(warehouse)}
        run = await client.create_flow_run_from_deployment(annual.id, parameters={"edition": 2018, **paths})
        [run] = await _await(lambda: _finished(client, run.id), "the run", 2 * PATIENCE_S, serving.process)
        subflow = await _subflow(client, run.id)
        return run, subflow, {r.id: await _artifacts(client, r.id) for r in (run, subflow)}

    run, subflow, artifacts = asyncio.run(_client(serving.api_url, failed_run))
    assert run.state.is_failed() and subflow.state.is_failed(), (run.state, subflow.state)
    assert subflow.name == "edition-2018"
    for holder in (subflow, run):
        [errors] = [a for a in artifacts[holder.id] if a.type == "table"]
        rows = json.loads(errors.data)
        assert {"file", "line", "column", "expected", "found"} <= set(rows[0])
        fx_rows = [r for r in rows if r["file"] == "raw/reference/fx_rates.csv"]
        assert fx_rows and fx_rows[0]["column"] == "currency" and fx_rows[0]["line"] > 1, rows
        assert "usd" in fx_rows[0]["found"], rows
        assert errors.key == ("edition-2018-errors" if holder is subflow else None)


def documented_prefect_lines() -> list[list[str]]:
    """Every `PREFECT_API_URL=… .venv/bin/prefect …` line of a sh block in README.md and docs/."""
    from tests.test_docs import DOCS, blocks

    found = []
    for path in DOCS:
        for block in blocks(path, "sh"):
            found += [shlex.split(line) for line in block.splitlines() if line.startswith("PREFECT_API_URL=")]
    return found


@pytest.mark.slow
def test_the_documented_prefect_commands_work_against_serve(serving, warehouse, tmp_path):
    """The trigger and artifact commands of the docs, as written, at the serve's port (instead of
    4200) and with a temporary warehouse: the run starts, publishes, and its summary reads back."""
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

    # The run the command created (the schedules' upcoming runs are deployment runs too).
    run_id = UUID(re.search(r"/runs/flow-run/([0-9a-f-]{36})", output)[1])

    async def finished(client):
        [done] = await _await(lambda: _finished(client, run_id), "the run", 2 * PATIENCE_S, serving.process)
        return done

    done = asyncio.run(_client(serving.api_url, finished))
    assert done.state.is_completed() and done.name == "annual-edition-2018", done.state
    for line in inspects:
        shown = run(line)
        assert "Edition 2018 published" in shown, shown[-3000:]
        assert re.search(r"\|\s*dataset\s*\|\s*rows\s+in\s*\|", shown), shown[-3000:]
    for line in triggers:
        if line is not annual:
            assert "Created flow run" in run(line, tmp_path / "other-warehouse")


def _without_param(args: list[str], name: str) -> list[str]:
    """`args` without `-p name=…`."""
    out: list[str] = []
    for arg in args:
        if arg.startswith(f"{name}=") and out and out[-1] == "-p":
            out.pop()
        else:
            out.append(arg)
    return out


def _signal_and_check(serving: Serving, sig: int, family: list[psutil.Process]) -> None:
    """`sig` to the serve process alone (its children have their own sessions); within
    STOPPED_WITHIN_S the serve and every process it had started are gone and the port is free."""
    started = time.monotonic()
    os.kill(serving.process.pid, sig)
    code = serving.process.wait(timeout=STOPPED_WITHIN_S)
    left = _alive(family)
    while left and time.monotonic() - started < STOPPED_WITHIN_S:
        time.sleep(0.5)
        left = _alive(family)
    took = time.monotonic() - started
    log = serving.log.read_text()
    assert not left, f"left behind after {took:.1f} s: {[p.cmdline() for p in left]}\n{log[-3000:]}"
    assert code == 0, log[-3000:]
    assert _port_is_free(serving.port), f"port {serving.port} still taken"
    assert not healthy(serving.api_url)


def _family(process: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _client(api_url: str, use):
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            return await use(client)


async def _served(client) -> bool:
    return {d.name for d in await client.read_deployments()} == set(DEPLOYMENTS)
