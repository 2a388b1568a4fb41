"""Schedules: the edition/month rules, prefect.yaml agreeing with flows/deployments.py, and
`coopindex serve` against a running `prefect server start`. Serve with its own server on
`--port`, and the runs a served deployment makes, are in test_serve.py."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import yaml

from flows.deployments import DEPLOYMENTS, FLOWS, TIMEZONE, _monthly_target, edition_for
from flows.serve import healthy
from tasks.warehouse.catalog import PROJECT_ROOT
from tests.prefect_processes import (
    BRISK_SERVER,
    PATIENCE_S,
    SHANGHAI,
    check_deployment,
    client,
    family,
    free_port,
    prefect,
    prefect_env,
    signal_and_check,
    spawn,
    start_serving,
    stop,
    upcoming,
    wait_for,
)

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


# --- against a running `prefect server start` ----------------------------------------------------


@dataclass
class PrefectApi:
    url: str
    env: dict[str, str]  # the environment of a client: PREFECT_HOME, PREFECT_API_URL
    startup_s: float


@pytest.fixture(scope="module")
def prefect_api(prefect_db, tmp_path_factory) -> Iterator[PrefectApi]:
    """A real `prefect server start` in a subprocess with its own PREFECT_HOME, stopped afterwards."""
    started = time.monotonic()
    folder = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = prefect_env(folder / "home", prefect_db)
    log = folder / "server.log"
    server = None
    try:
        command = prefect("server", "start", "--host", "127.0.0.1", "--port", str(port))
        server = spawn(command, env | BRISK_SERVER, log)
        wait_for(lambda: healthy(url), server, "the Prefect server to answer", log)
        yield PrefectApi(url, env | {"PREFECT_API_URL": url}, time.monotonic() - started)
    finally:
        stop(server)


@pytest.mark.slow
def test_serve_against_a_running_server_puts_runs_on_the_crons_and_stops_on_ctrl_c(prefect_api, tmp_path):
    """With PREFECT_API_URL set, serve starts no server: it registers every deployment with its
    schedule, the server's scheduler puts the next runs on the crons in Shanghai time, and a
    Ctrl-C (SIGINT) ends the runner with a clean exit, leaving the server it did not start."""
    serving = start_serving(tmp_path / "serve", prefect_api.env)
    try:
        processes = family(serving.process)
        assert processes, "serve started no runner"

        async def scenario(prefect_client):
            deployments = {d.name: d for d in await prefect_client.read_deployments()}
            return deployments, await upcoming(prefect_client, deployments)

        deployments, next_runs = asyncio.run(client(prefect_api.url, scenario))
        for name, spec in DEPLOYMENTS.items():
            assert deployments[name].entrypoint == f"flows.deployments.{spec['flow']}"
            check_deployment(deployments[name], spec)
        assert (next_runs["annual-edition"].month, next_runs["annual-edition"].day) == (6, 1)
        assert next_runs["annual-edition"].hour == 6
        assert (next_runs["monthly-trade-refresh"].day, next_runs["monthly-trade-refresh"].hour) == (5, 7)
        log = signal_and_check(serving, signal.SIGINT, processes, own_server=False)
    finally:
        stop(serving.process)
    assert "Starting a Prefect server" not in log and f"Prefect API: {prefect_api.url}" in log, log
    assert "Traceback" not in log and "| ERROR" not in log, log[-3000:]
    assert healthy(prefect_api.url), "serve stopped a server it had not started"


@pytest.mark.slow
def test_prefect_yaml_deploys_to_a_process_work_pool(prefect_api):
    """`prefect deploy --all` accepts prefect.yaml and registers the same schedules for a work pool."""
    before = (PROJECT_ROOT / "prefect.yaml").read_bytes()
    for command in (("work-pool", "create", "coopindex", "--type", "process", "--overwrite"),
                    ("--no-prompt", "deploy", "--all")):  # fmt: skip
        done = subprocess.run(
            prefect(*command), env=prefect_api.env, cwd=PROJECT_ROOT, capture_output=True, text=True,
            timeout=PATIENCE_S,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    async def deployments(prefect_client):
        return {d.name: d for d in await prefect_client.read_deployments()}

    found = asyncio.run(client(prefect_api.url, deployments))
    workdir = [{"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}]
    for name, spec in DEPLOYMENTS.items():
        deployment = found[name]
        assert deployment.work_pool_name == "coopindex"
        assert deployment.entrypoint == f"flows/deployments.py:{spec['flow']}"
        assert deployment.pull_steps == workdir
        check_deployment(deployment, spec)
    assert (PROJECT_ROOT / "prefect.yaml").read_bytes() == before
