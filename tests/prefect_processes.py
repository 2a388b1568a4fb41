"""Real Prefect processes for the tests: a server, `coopindex serve`, and waiting on them.

Every wait is on readiness with a generous limit (PATIENCE_S): a busy machine makes these tests
slower, never failing; a test that is fine passes as soon as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil

from flows.deployments import DEPLOYMENTS
from flows.ephemeral import CURRENT_DATABASE, MARKER
from flows.serve import healthy
from tasks.warehouse.catalog import PROJECT_ROOT

SHANGHAI = ZoneInfo("Asia/Shanghai")
PATIENCE_S = 300
STOPPED_WITHIN_S = 30  # what a signal may take to end every process of the serve
# Test pace for a server: the scheduler creates the next scheduled runs at once and looks 400
# days ahead (default 100, so the annual deployment gets its next run too), and a run that found
# the deployment's slot taken retries after 1 s instead of 30 s.
BRISK_SERVER = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
    "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": "P400D",
}
BRISK_RUNNER = {"PREFECT_RUNNER_POLL_FREQUENCY": "2"}  # due runs picked up every 2 s, not 10 s


@dataclass
class Serving:
    """A `coopindex serve` process, the API it uses and its log."""

    process: subprocess.Popen
    port: int
    api_url: str
    log: Path


def serve_command() -> list[str]:
    """`coopindex serve`, as a user runs it."""
    return [sys.executable, "-m", "flows.cli", "serve"]


def prefect(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def prefect_env(home: Path, database: Path, current: bool = True) -> dict[str, str]:
    """The environment of a process with its own PREFECT_HOME, `home`, made new with a copy of the
    migrated `database` (the `prefect_db` fixture). `current`: with the marker of `coopindex
    run` beside it, and Prefect told that migrations and block types are done, so that every
    server started there (Prefect's own and the run's) skips them, as a user's second run does."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(database, home / "prefect.db")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if not current:
        return env
    shutil.copyfile(database.parent / MARKER, home / MARKER)
    return env | CURRENT_DATABASE


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_serving(folder: Path, env: dict[str, str], port: int | None = None) -> Serving:
    """`coopindex serve` (with `--port` when given: then it starts its own server), returned once
    its server answers and every deployment is served."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "serve.log"
    api_url = env.get("PREFECT_API_URL") or f"http://127.0.0.1:{port}/api"
    process = spawn([*serve_command(), *(["--port", str(port)] if port else [])], env | BRISK_RUNNER, log)
    try:
        wait_for(lambda: healthy(api_url), process, "the server of serve", log)
        asyncio.run(client(api_url, lambda c: wait_async(lambda: served(c), "deployments", serving=process)))
    except BaseException:
        stop(process)
        raise
    return Serving(process, port or int(api_url.rsplit(":", 1)[1].split("/")[0]), api_url, log)


def stop(process: subprocess.Popen | None) -> int | None:
    """SIGTERM to the process group (Prefect shuts down gracefully), SIGKILL if it lingers (a
    graceful shutdown on a busy machine can take a while: killing it early would fail the test)."""
    if process is None:
        return None
    for sig, wait in ((signal.SIGTERM, PATIENCE_S), (signal.SIGKILL, 30)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    # Whatever else the group started (flow-run processes) goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for(check, process: subprocess.Popen, what: str, log: Path, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


async def wait_async(check, what: str, timeout: float = PATIENCE_S, serving: subprocess.Popen | None = None):
    """Poll `check` until it finds something; stop early if the `serving` process has died."""
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        if serving is not None and serving.poll() is not None:
            raise AssertionError(f"the served process exited ({serving.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(1)
    return found


async def client(api_url: str, use):
    """`use(client)` with a Prefect client of the API at `api_url`."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as prefect_client:
            return await use(prefect_client)


async def served(prefect_client) -> dict | None:
    deployments = {d.name: d for d in await prefect_client.read_deployments()}
    return deployments if set(deployments) == set(DEPLOYMENTS) else None


async def finished(prefect_client, *ids):
    runs = [await prefect_client.read_flow_run(i) for i in ids]
    return runs if all(run.state.is_final() for run in runs) else None


async def subflow(prefect_client, parent_id):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    [child] = await prefect_client.read_flow_runs(
        flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]))
    )
    return child


async def artifacts(prefect_client, flow_run_id) -> list:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    return await prefect_client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )


async def upcoming(prefect_client, deployments: dict) -> dict[str, datetime]:
    """The next run the server's scheduler created for each deployment, in Shanghai time."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    async def next_run(deployment):
        runs = await prefect_client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(is_null_=True)),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        )
        future = [r for r in runs if r.auto_scheduled and r.expected_start_time > datetime.now(UTC)]
        return future[0].expected_start_time.astimezone(SHANGHAI) if future else None

    async def all_scheduled():
        found = {name: await next_run(d) for name, d in deployments.items()}
        return found if all(found.values()) else None

    return await wait_async(all_scheduled, "the scheduler's runs")


def check_deployment(deployment, spec: dict) -> None:
    assert deployment.parameters == spec["parameters"]
    assert not deployment.paused
    [schedule] = deployment.schedules
    assert schedule.active
    assert (schedule.schedule.cron, schedule.schedule.timezone) == (spec["cron"], spec["timezone"])
    assert deployment.global_concurrency_limit.limit == spec["concurrency_limit"]
    assert deployment.concurrency_options.collision_strategy.value == "ENQUEUE"


def check_artifacts(found: list, edition: int, warehouse: Path, keyed: bool) -> None:
    """The ranking, the summary (markdown tables, no dict reprs) and the links to the reports."""
    by_type: dict[str, list] = {}
    for artifact in found:
        by_type.setdefault(artifact.type, []).append(artifact)
    rankings = [a for a in by_type["table"] if a.description.startswith("China-CEEC cooperation index")]
    assert len(rankings) == 1, [(a.key, a.description, a.flow_run_id, a.task_run_id) for a in found]
    [ranking] = rankings
    # Prefect stores a link artifact as markdown `[text](uri)`: the summary is the other one.
    markdown = by_type["markdown"]
    links = {a.data.rsplit("](", 1)[1].rstrip(")") for a in markdown if a.data.startswith("[file://")}
    summaries = [a for a in markdown if not a.data.startswith("[file://")]
    assert len(summaries) == 1, [(a.key, a.description, a.flow_run_id, a.data[:80]) for a in found]
    [summary] = summaries
    rows = json.loads(ranking.data)
    assert len(rows) == 15 and rows[0]["rank"] == 1
    assert f"# Edition {edition} published" in summary.data
    assert "| dataset | rows in |" in summary.data and "{'" not in summary.data
    report = (warehouse / f"edition={edition}" / "report" / "index.html").absolute().as_uri()
    assert report in links
    assert any(link.startswith(warehouse.absolute().as_uri()) and "data_docs" in link for link in links)
    keys = {a.key for a in found}
    expected = {f"edition-{edition}-{name}" for name in ("ranking", "summary", "report", "data-docs")}
    assert expected <= keys if keyed else keys == {None}


def family(process: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(process)
        except psutil.NoSuchProcess:
            continue
    return left


def signal_and_check(serving: Serving, sig: int, processes: list[psutil.Process], own_server: bool) -> str:
    """`sig` to the serve process alone (its children have their own sessions); within
    STOPPED_WITHIN_S the serve and every process it had started are gone, it exited 0, and the
    port of a server it started is free. Returns its log."""
    started = time.monotonic()
    os.kill(serving.process.pid, sig)
    code = serving.process.wait(timeout=STOPPED_WITHIN_S)
    left = alive(processes)
    while left and time.monotonic() - started < STOPPED_WITHIN_S:
        time.sleep(0.5)
        left = alive(processes)
    took = time.monotonic() - started
    log = serving.log.read_text()
    assert not left, f"left behind after {took:.1f} s: {[p.cmdline() for p in left]}\n{log[-3000:]}"
    assert code == 0, log[-3000:]
    if own_server:
        assert port_is_free(serving.port), f"port {serving.port} still taken"
        assert not healthy(serving.api_url)
    return log
