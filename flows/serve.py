"""`coopindex serve`: a Prefect server and the runner of the deployments, as child processes
that this process stops together, whatever stops it.

This process only supervises; nothing here imports Prefect's server or runner:

- the server (`prefect server start`, only when PREFECT_API_URL is not set) and the runner
  (`python -m flows.deployments`, Prefect's `serve`) each run in their own session, so a
  Ctrl-C in the terminal or a signal to this process group reaches this process alone, which
  then stops them in order: the runner first, while the server still answers, so that it can
  cancel its flow runs and pause its schedules; the server last;
- each gets a grace period (`SERVE`), then is killed with its whole process group;
- on Linux this process is a child subreaper: a flow run's worker whose parent died becomes
  its child rather than init's, so the final sweep of every descendant finds it too.

A second SIGTERM or SIGINT skips the grace periods.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import typer

# At most `limit` flow runs at once; the port of the server started when PREFECT_API_URL is not
# set; how long the server may take to start; and how long the runner (cancelling its runs)
# and the server may take to stop before they are killed.
SERVE = {"limit": 2, "port": 4200, "server_startup_s": 120, "runner_grace_s": 15, "server_grace_s": 8}

_PR_SET_CHILD_SUBREAPER = 36


class _Stop:
    """Set by SIGTERM or SIGINT; a second signal means: no more grace."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signals = 0

    def __call__(self, signum: int, frame: object) -> None:
        self.signals += 1
        self.event.set()

    @property
    def hurry(self) -> bool:
        return self.signals > 1


def serve_command(limit: int = SERVE["limit"], port: int = SERVE["port"]) -> None:
    """Serve the deployments until SIGTERM or SIGINT, then stop the runner, its flow runs and
    the server started here, and exit 0 (1 if a child died on its own)."""
    from prefect.settings import get_current_settings

    from flows.deployments import DEPLOYMENTS, FLOWS

    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    _become_subreaper()
    settings = get_current_settings()
    server: subprocess.Popen | None = None
    runner: subprocess.Popen | None = None
    code = 0
    try:
        api_url = settings.api.url
        if not api_url:
            api_url, server = _local_server(port, settings.home, stop)
        if stop.event.is_set():
            return
        ui_url = api_url.removesuffix("/api") if server else settings.ui_url or api_url.removesuffix("/api")
        typer.echo(f"Prefect API: {api_url}\nPrefect UI:  {ui_url}")
        for name, spec in DEPLOYMENTS.items():
            typer.echo(f"  {FLOWS[spec['flow']].name}/{name}: cron {spec['cron']!r} ({spec['timezone']})")
        typer.echo(
            f"Trigger a run: PREFECT_API_URL={api_url} .venv/bin/prefect deployment run "
            "scheduled-edition/annual-edition -p edition=2018"
        )
        env = os.environ | {"PREFECT_API_URL": api_url}
        command = [sys.executable, "-m", "flows.deployments", "--limit", str(limit)]
        runner = subprocess.Popen(command, env=env, start_new_session=True)
        code = _watch(runner, server, api_url, stop)
    finally:
        _shutdown(runner, server, stop)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code:
        raise typer.Exit(code)


def _watch(runner: subprocess.Popen, server: subprocess.Popen | None, api_url: str, stop: _Stop) -> int:
    """Wait for a signal (0), or for a child to die on its own (1)."""
    while not stop.event.wait(0.5):
        _reap_orphans({runner.pid, server.pid if server else -1})
        if runner.poll() is not None:
            typer.echo(f"error: the runner exited on its own ({runner.returncode})", err=True)
            return 1
        if server is not None and server.poll() is not None:
            typer.echo(f"error: the Prefect server at {api_url} exited ({server.returncode})", err=True)
            return 1
    return 0


def _server_env(port: int, api_url: str) -> dict[str, str]:
    """The server's environment: its UI must call the API on `port`, not on Prefect's default 4200."""
    return os.environ | {
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": api_url,
        "PREFECT_UI_URL": api_url.removesuffix("/api"),
    }


def _local_server(port: int, home: Path, stop: _Stop) -> tuple[str, subprocess.Popen | None]:
    """The API URL of a Prefect server on 127.0.0.1:`port`, and the child started for it
    (None when one already answered there)."""
    api_url = f"http://127.0.0.1:{port}/api"
    if healthy(api_url):
        typer.echo(f"A Prefect server already answers on port {port}: using it.")
        return api_url, None
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    typer.echo(f"Starting a Prefect server on port {port} (state in {home}, log in {log}) ...")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        env = _server_env(port, api_url)
        server = subprocess.Popen(command, env=env, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + SERVE["server_startup_s"]
    while not healthy(api_url) and not stop.event.is_set():
        if server.poll() is not None or time.monotonic() > deadline:
            _end(server, SERVE["server_grace_s"])
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
            typer.echo(f"error: the Prefect server did not start on port {port}:\n{tail}", err=True)
            raise typer.Exit(1)
        stop.event.wait(0.5)
    return api_url, server


def _shutdown(runner: subprocess.Popen | None, server: subprocess.Popen | None, stop: _Stop) -> None:
    """Runner first (it cancels its flow runs through the server), server last, then whatever is left."""
    known = _descendants()
    if runner is not None:
        _end(runner, 0 if stop.hurry else SERVE["runner_grace_s"], stop)
        known |= _descendants()
    if server is not None:
        _end(server, 0 if stop.hurry else SERVE["server_grace_s"], stop)
    left = [p for p in known | _descendants() if p.is_running()]
    for process in left:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(left, timeout=10)


def _end(process: subprocess.Popen, grace: float, stop: _Stop | None = None) -> None:
    """SIGTERM to `process`, up to `grace` seconds (cut short by a second signal), then SIGKILL to
    its process group: also what it started and left behind in that group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while process.poll() is None and time.monotonic() < deadline and not (stop and stop.hurry):
            time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _descendants() -> set[psutil.Process]:
    try:
        return set(psutil.Process().children(recursive=True))
    except psutil.Error:
        return set()


def _reap_orphans(ours: set[int]) -> None:
    """Collect orphans adopted as a subreaper once they exit (the children it started are
    reaped by their Popen)."""
    for child in psutil.Process().children():
        if child.pid not in ours:
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, os.WNOHANG)
            except (psutil.Error, ChildProcessError):
                continue


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def healthy(api_url: str) -> bool:
    """Whether a Prefect server answers at `api_url`."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
