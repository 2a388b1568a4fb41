"""Prefect's temporary server for one `coopindex run`, started as early as the run can.

Without PREFECT_API_URL the first flow call starts a temporary server and waits for it. Here
the run starts the same server itself (Prefect's app under uvicorn, with the environment
Prefect gives its temporary server), before it imports Prefect, so that the server comes up
while the run imports its steps; the run then talks to it through PREFECT_API_URL like to
any server. The server process reads Prefect's settings itself (the same environment and
profile); when the run finds a server configured in the profile, it stops the one it started.
Why not Prefect's own `SubprocessASGIServer`: importing its module costs the run ~2 s of CPU
(the whole server app) that the other process is already spending.

The database's migrations and block-type registration are run once per Prefect version and
set of installed collections: a start that finds the database at the revision that they last
left skips both (alembic loads every migration script, ~2 s; registering blocks imports every
collection, prefect-dask among them, ~0.3 s). Any other database (new, replaced, migrated by
another version) is migrated and registered as usual, and recorded once it answers.

Run as `python -m flows.ephemeral --port P`: the server process of `start()`.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import entry_points, version
from pathlib import Path

log = logging.getLogger("prefect")
MARKER = "coopindex-migrated.json"  # in PREFECT_HOME: what the last migrated start left
# As Prefect starts its temporary server: no UI, the services of an ephemeral server.
SERVER_ENVIRONMENT = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
# What a start at the recorded revision skips (see the module docstring).
CURRENT_DATABASE = {
    "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}


@dataclass
class TemporaryServer:
    """A Prefect server process of this run, stopped when the run ends."""

    process: subprocess.Popen[bytes]
    port: int
    stopping: bool = False  # SIGTERM sent

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def needed(self) -> bool:
        """False (and the server stopped) when Prefect's settings, read now that Prefect is
        imported, name a server or turn ephemeral mode off: the profile can say what the
        environment did not."""
        from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

        if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
            self.stop()
            return False
        return True

    def wait(self, timeout_s: float) -> None:
        """Until the server answers its health check; raises if it exits or times out."""
        import httpx

        deadline = time.monotonic() + timeout_s
        with httpx.Client() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    code = self.process.returncode
                    raise RuntimeError(f"the temporary Prefect server exited with code {code}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                        return
                time.sleep(0.05)
        raise RuntimeError(f"the temporary Prefect server did not answer within {timeout_s:.0f} s")

    def stop_soon(self) -> None:
        """SIGTERM once the logs and events this process still holds are sent, without waiting:
        the server shuts down while the command prints its results (`stop` waits, at exit)."""
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for worker in (APILogWorker, EventsWorker):
            worker.drain_all(timeout=30)
        self._terminate()

    def stop(self) -> None:
        self._terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _terminate(self) -> None:
        if self.process.poll() is None and not self.stopping:
            log.info("Stopping temporary server on http://127.0.0.1:%d", self.port)
            self.process.terminate()
            self.stopping = True


def start() -> TemporaryServer | None:
    """The temporary server, starting; None when the environment names a server. Call it before
    Prefect is imported, and `needed()` once it is."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    environment = {**os.environ, **SERVER_ENVIRONMENT}
    # Automations' triggers: a server that lives for one run has none to evaluate, and starting
    # them is ~0.25 s of its start (measured, alternating starts).
    environment.setdefault("PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED", "false")
    port = _free_port()
    command = [sys.executable, "-m", "flows.ephemeral", "--port", str(port)]
    server = TemporaryServer(subprocess.Popen(command, env=environment), port)
    atexit.register(server.stop)
    return server


def serve(port: int) -> None:
    """The server process: Prefect's app under uvicorn on `port`, skipping what a database at
    the recorded revision has done already, and recording a migrated one once it is up."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings

    database = _sqlite_file(get_current_settings().server.database.connection_url)
    current = database is not None and _at_recorded_revision(database)
    if current:
        os.environ.update(CURRENT_DATABASE)
        refresh_global_settings_context()
    import uvicorn

    config = uvicorn.Config("prefect.server.api.server:create_app", factory=True, host="127.0.0.1",
                            port=port, log_level="error", lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)

    async def run() -> None:
        serving = asyncio.ensure_future(server.serve())
        while not (server.started or serving.done()):
            await asyncio.sleep(0.05)
        if server.started and not current and database is not None:
            _record_revision(database)
        await serving

    asyncio.run(run())


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sqlite_file(url: object) -> Path | None:
    text = url.get_secret_value() if hasattr(url, "get_secret_value") else str(url or "")
    prefix = "sqlite+aiosqlite:///"
    return Path(text.removeprefix(prefix)) if text.startswith(prefix) and ":memory:" not in text else None


def _revision(database: Path) -> str | None:
    """The database's alembic revision, or None (no file, no table)."""
    if not database.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _recorded(database: Path) -> dict[str, object] | None:
    """What a migrated start records: the Prefect version, the database's revision, and the
    collections whose block types it registered."""
    revision = _revision(database)
    if revision is None:
        return None
    collections = sorted(
        f"{e.name}={e.dist.version if e.dist else ''}" for e in entry_points(group="prefect.collections")
    )
    return {"prefect": version("prefect"), "revision": revision, "collections": collections}


def _at_recorded_revision(database: Path) -> bool:
    try:
        recorded = json.loads((database.parent / MARKER).read_text())
    except (OSError, ValueError):
        return False
    now = _recorded(database)
    return now is not None and recorded == now


def _record_revision(database: Path) -> None:
    """After a migrated start: what the next start compares with."""
    now = _recorded(database)
    if now is None:
        return
    marker = database.parent / MARKER
    partial = marker.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(now))
    os.replace(partial, marker)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The temporary Prefect server of one coopindex run.")
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
