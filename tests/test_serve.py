"""`coopindex serve` as a user runs it, in its own process group: the UI it starts calls the API
on --port, and SIGTERM or SIGINT, idle or with a flow run in flight, leaves no process behind
and frees the port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from flows.deployments import DEPLOYMENTS
from flows.serve import healthy
from tests.test_deployments import _await, _free_port, _prefect_env, _serve_command, _spawn, _stop, _wait_for

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
