"""Schedules: the edition/month rules, prefect.yaml agreeing with flows/deployments.py, and
`coopindex serve` against a real Prefect server started in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from flows.deployments import DEPLOYMENTS, FLOWS, TIMEZONE, _monthly_target, edition_for
from flows.serve import healthy as _healthy
from tasks.warehouse.catalog import PROJECT_ROOT

SHANGHAI = ZoneInfo("Asia/Shanghai")
# How long to wait for a server, a process or a run before giving up: generous, so that a busy
# machine makes these tests slower, never failing; a test that is fine passes as soon as it is.
PATIENCE_S = 300


# --- the rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheduled", "kind", "expected"),
    [
        (datetime(2019, 6, 1, 6, tzinfo=SHANGHAI), "annual", (2018, None)),
        (datetime(2021, 1, 1, 0, 30, tzinfo=SHANGHAI), "annual", (2020, None)),
        (datetime(2019, 3, 5, 7, tzinfo=SHANGHAI), "monthly", (2019, 2)),
        (datetime(2019, 12, 5, 7, tzinfo=SHANGHAI), "monthly", (2019, 11)),
        # The refresh on 5 January covers December: it republishes the previous year's edition.
        (datetime(2019, 1, 5, 7, tzinfo=SHANGHAI), "monthly", (2018, 12)),
    ],
)
def test_edition_and_month_from_the_scheduled_time(scheduled, kind, expected):
    assert edition_for(scheduled, kind) == expected


def test_times_are_read_in_the_schedules_time_zone():
    # Prefect reports scheduled times in UTC: 06:00 on 1 June in Shanghai is 22:00 on 31 May UTC.
    assert edition_for(datetime(2019, 5, 31, 22, tzinfo=UTC), "annual") == (2018, None)
    # 07:00 on 1 January 2021 in Shanghai is still 2020 in UTC; it is the January 2021 refresh.
    assert edition_for(datetime(2020, 12, 31, 23, tzinfo=UTC), "monthly") == (2020, 12)
    assert edition_for(datetime(2021, 2, 28, 23, tzinfo=UTC), "monthly") == (2021, 2)
    # A naive time is taken to be in the schedules' time zone.
    assert edition_for(datetime(2019, 3, 1, 0, 30), "monthly") == (2019, 2)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown schedule kind"):
        edition_for(datetime(2019, 6, 1, tzinfo=SHANGHAI), "weekly")  # type: ignore[arg-type]


def test_a_month_given_by_hand():
    assert _monthly_target("2019-02") == (2019, 2)
    for bad in ("2019-13", "2019-2", "Feb 2019"):
        with pytest.raises(ValueError, match="month must look like"):
            _monthly_target(bad)


# --- one definition, two ways to run it --------------------------------------------------------


def test_prefect_yaml_matches_the_module():
    """prefect.yaml (work pools) and DEPLOYMENTS (`coopindex serve`) must not drift apart."""
    spec = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    in_yaml = {d["name"]: d for d in spec["deployments"]}
    assert set(in_yaml) == set(DEPLOYMENTS)
    for name, ours in DEPLOYMENTS.items():
        theirs = in_yaml[name]
        assert theirs["entrypoint"] == f"flows/deployments.py:{ours['flow']}"
        assert ours["flow"] in FLOWS
        assert theirs["schedules"] == [{"cron": ours["cron"], "timezone": ours["timezone"]}]
        assert ours["timezone"] == TIMEZONE
        assert theirs["parameters"] == ours["parameters"]
        assert theirs["concurrency_limit"] == {
            "limit": ours["concurrency_limit"],
            "collision_strategy": "ENQUEUE",
        }
        assert theirs["tags"] == ours["tags"]
        assert theirs["description"] == ours["description"]
        assert theirs["work_pool"]["name"] == spec["name"] == "coopindex"


# --- `coopindex serve` against a real Prefect server ---------------------------------------------


@dataclass
class PrefectApi:
    url: str
    env: dict[str, str]  # the environment of a client: PREFECT_HOME, PREFECT_API_URL
    startup_s: float


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory) -> Iterator[PrefectApi]:
    """A real `prefect server start` in a subprocess with its own PREFECT_HOME, stopped afterwards."""
    started = time.monotonic()
    folder = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = _prefect_env(folder / "home")
    server_env = env | {
        # Test pace: the scheduler creates the next scheduled runs at once, and a run that found
        # the deployment's slot taken retries after 1 s instead of 30 s.
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "1",
        # and looks 400 days ahead (default 100), so the annual deployment gets its next run too.
        "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": "P400D",
    }
    log = folder / "server.log"
    server = None
    try:
        command = _prefect("server", "start", "--host", "127.0.0.1", "--port", str(port))
        server = _spawn(command, server_env, log)
        _wait_for(lambda: _healthy(url), server, "the Prefect server to answer", log)
        yield PrefectApi(url, env | {"PREFECT_API_URL": url}, time.monotonic() - started)
    finally:
        _stop(server)


@pytest.mark.slow
def test_serve_against_a_real_server(prefect_api, raw_copy, tmp_path, warehouse):
    """Serve against a `prefect server start` subprocess, read the deployments back, and run the
    annual deployment twice: triggered with edition=2018, and as a parameter-less run scheduled
    for 2020-06-01 06:00 Shanghai, which must score 2019. The deployment's concurrency limit of
    one makes the second run wait for the first."""
    started = time.monotonic()
    api_url = prefect_api.url
    serve = None
    try:
        # The runner polls for due runs every 2 s instead of 10 s.
        env = prefect_api.env | {"PREFECT_RUNNER_POLL_FREQUENCY": "2"}
        serve = _spawn(_serve_command(), env, tmp_path / "serve.log")

        async def scenario():
            from prefect import get_client
            from prefect.settings import PREFECT_API_URL, temporary_settings
            from prefect.states import Scheduled

            with temporary_settings({PREFECT_API_URL: api_url}):
                async with get_client() as client:
                    deployments = await _await(
                        lambda: _served(client), "the served deployments", serving=serve
                    )
                    _check_deployments(deployments)
                    annual = deployments["annual-edition"]
                    paths = {"raw_dir": str(raw_copy), "warehouse_dir": str(warehouse)}
                    triggered = await client.create_flow_run_from_deployment(
                        annual.id, parameters={"edition": 2018, **paths}
                    )
                    scheduled_for = datetime(2020, 6, 1, 6, tzinfo=SHANGHAI)
                    scheduled = await client.create_flow_run_from_deployment(
                        annual.id, parameters=paths, state=Scheduled(scheduled_time=scheduled_for)
                    )
                    ids = triggered.id, scheduled.id
                    # two editions, one after the other (the deployment's limit of one)
                    runs = await _await(lambda: _finished(client, *ids), "the runs", 2 * PATIENCE_S, serve)
                    subflows = {run.id: await _subflow(client, run.id) for run in runs}
                    artifacts = {
                        run.id: await _artifacts(client, run.id) for run in [*runs, *subflows.values()]
                    }
                    upcoming = await _upcoming(client, deployments)
            return runs, subflows, artifacts, upcoming

        (triggered, scheduled), subflows, artifacts, upcoming = asyncio.run(scenario())
    finally:
        code = _stop(serve)
    took = time.monotonic() - started
    print(f"server ready in {prefect_api.startup_s:.1f} s; serve, two runs, shutdown: {took:.1f} s")

    for run in (triggered, scheduled):
        assert run.state.is_completed(), (run.name, run.state)
    assert (triggered.name, scheduled.name) == ("annual-edition-2018", "annual-edition-2019")
    assert scheduled.parameters == {"raw_dir": str(raw_copy), "warehouse_dir": str(warehouse)}
    assert scheduled.expected_start_time == datetime(2020, 6, 1, 6, tzinfo=SHANGHAI)
    for run, edition in ((triggered, 2018), (scheduled, 2019)):
        subflow = subflows[run.id]
        assert subflow.parameters["edition"] == edition
        assert (warehouse / f"edition={edition}" / "scores.parquet").is_file()
        manifest = json.loads((warehouse / f"edition={edition}" / "manifest.json").read_text())
        assert manifest["flow_run_id"] == str(subflow.id)
        assert manifest["parameters"]["raw_dir"] == str(raw_copy.resolve())
        # The edition's run and the deployment's run (the one the user opens) hold the artifacts.
        assert subflow.name == f"edition-{edition}"
        for holder in (subflow, run):
            _check_artifacts(artifacts[holder.id], edition, warehouse, keyed=holder is subflow)
    # One run of the deployment at a time.
    first, second = sorted((triggered, scheduled), key=lambda r: r.start_time)
    assert first.end_time <= second.start_time
    # The server's scheduler put the next runs on the crons, in Shanghai time.
    assert (upcoming["annual-edition"].month, upcoming["annual-edition"].day) == (6, 1)
    assert upcoming["annual-edition"].hour == 6
    assert (upcoming["monthly-trade-refresh"].day, upcoming["monthly-trade-refresh"].hour) == (5, 7)
    # A clean exit: SIGTERM ends serving without an error or a traceback.
    log = (tmp_path / "serve.log").read_text()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log and "| ERROR" not in log, log[-3000:]


@pytest.mark.slow
def test_prefect_yaml_deploys_to_a_process_work_pool(prefect_api):
    """`prefect deploy --all` accepts prefect.yaml and registers the same schedules for a work pool."""
    before = (PROJECT_ROOT / "prefect.yaml").read_bytes()
    for command in (("work-pool", "create", "coopindex", "--type", "process", "--overwrite"),
                    ("--no-prompt", "deploy", "--all")):  # fmt: skip
        done = subprocess.run(
            _prefect(*command), env=prefect_api.env, cwd=PROJECT_ROOT, capture_output=True, text=True,
            timeout=PATIENCE_S,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    async def deployments():
        from prefect import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: prefect_api.url}):
            async with get_client() as client:
                return {d.name: d for d in await client.read_deployments()}

    found = asyncio.run(deployments())
    workdir = [{"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}]
    for name, spec in DEPLOYMENTS.items():
        deployment = found[name]
        assert deployment.work_pool_name == "coopindex"
        assert deployment.entrypoint == f"flows/deployments.py:{spec['flow']}"
        assert deployment.pull_steps == workdir
        _check_deployment(deployment, spec)
    assert (PROJECT_ROOT / "prefect.yaml").read_bytes() == before


@pytest.mark.slow
def test_serve_starts_its_own_server_without_an_api_url(tmp_path):
    """The temporary server of `coopindex run` has no scheduler: serve starts a real one."""
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = _prefect_env(tmp_path / "prefect-home")
    serve = None
    try:
        serve = _spawn([*_serve_command(), "--port", str(port)], env, tmp_path / "serve.log")
        _wait_for(lambda: _healthy(api_url), serve, "the server started by serve", tmp_path / "serve.log")

        async def deployments():
            from prefect import get_client
            from prefect.settings import PREFECT_API_URL, temporary_settings

            with temporary_settings({PREFECT_API_URL: api_url}):
                async with get_client() as client:
                    return await _await(lambda: _served(client), "the served deployments", serving=serve)

        assert set(asyncio.run(deployments())) == set(DEPLOYMENTS)
    finally:
        code = _stop(serve)
    log = (tmp_path / "serve.log").read_text()
    assert code == 0, log[-3000:]
    assert f"Prefect UI:  http://127.0.0.1:{port}" in log
    assert (tmp_path / "prefect-home" / "server.log").is_file()
    assert not _healthy(api_url), "the server started by serve outlived it"


# --- helpers -------------------------------------------------------------------------------------


def _serve_command() -> list[str]:
    """`coopindex serve`, as a user runs it."""
    return [sys.executable, "-m", "flows.cli", "serve"]


def _prefect(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def _prefect_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen | None) -> int | None:
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, process: subprocess.Popen, what: str, log: Path, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


async def _await(check, what: str, timeout: float = PATIENCE_S, serving: subprocess.Popen | None = None):
    """Poll `check` until it finds something; stop early if the `serving` process has died."""
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        if serving is not None and serving.poll() is not None:
            raise AssertionError(f"the served process exited ({serving.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(1)
    return found


async def _served(client) -> dict | None:
    deployments = {d.name: d for d in await client.read_deployments()}
    return deployments if set(deployments) == set(DEPLOYMENTS) else None


def _check_deployments(deployments: dict) -> None:
    for name, spec in DEPLOYMENTS.items():
        assert deployments[name].entrypoint == f"flows.deployments.{spec['flow']}"
        _check_deployment(deployments[name], spec)


def _check_deployment(deployment, spec: dict) -> None:
    assert deployment.parameters == spec["parameters"]
    assert not deployment.paused
    [schedule] = deployment.schedules
    assert schedule.active
    assert (schedule.schedule.cron, schedule.schedule.timezone) == (spec["cron"], spec["timezone"])
    assert deployment.global_concurrency_limit.limit == spec["concurrency_limit"]
    assert deployment.concurrency_options.collision_strategy.value == "ENQUEUE"


async def _finished(client, *ids):
    runs = [await client.read_flow_run(i) for i in ids]
    return runs if all(run.state.is_final() for run in runs) else None


async def _subflow(client, parent_id):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    [subflow] = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]))
    )
    return subflow


async def _artifacts(client, flow_run_id) -> list:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    return await client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )


def _check_artifacts(found: list, edition: int, warehouse: Path, keyed: bool) -> None:
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


async def _upcoming(client, deployments: dict) -> dict[str, datetime]:
    """The next run the server's scheduler created for each deployment, in Shanghai time."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    async def next_run(deployment):
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(is_null_=True)),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        )
        future = [r for r in runs if r.auto_scheduled and r.expected_start_time > datetime.now(UTC)]
        return future[0].expected_start_time.astimezone(SHANGHAI) if future else None

    async def all_scheduled():
        found = {name: await next_run(d) for name, d in deployments.items()}
        return found if all(found.values()) else None

    return await _await(all_scheduled, "the scheduler's runs")
