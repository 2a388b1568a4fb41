"""Prefect's temporary server for one `coopindex run`, started as early as the run can.

Without PREFECT_API_URL the first flow call starts a temporary server and waits for it. Here
the run starts the same server itself (Prefect's app under uvicorn, the environment Prefect
gives it) right after Prefect's settings are read, so that it comes up while the run imports its
steps; the run then talks to it through PREFECT_API_URL like to any server. Why not Prefect's
own `SubprocessASGIServer`: importing its module costs the run ~2 s of CPU (the whole server
app) that the other process is already spending.

Its database's migrations are run once per Prefect version: a start that finds the database at
the revision that version last migrated it to skips them (alembic loads every migration script,
~2 s). Any other database (new, replaced, migrated by another version) is migrated as usual.
"""

from __future__ import annotations

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
from pathlib import Path

log = logging.getLogger("prefect")
MARKER = "coopindex-migrated.json"  # in PREFECT_HOME: {"prefect": version, "revision": alembic's}


@dataclass
class TemporaryServer:
    """A Prefect server process of this run, stopped when the run ends."""

    process: subprocess.Popen[bytes]
    port: int
    database: Path | None  # the SQLite file, when the server uses one
    migrated: bool  # started with migrations on: record the revision once it is up

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

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
                        if self.migrated:
                            _record_revision(self.database)
                        return
                time.sleep(0.05)
        raise RuntimeError(f"the temporary Prefect server did not answer within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            log.info("Stopping temporary server on http://127.0.0.1:%d", self.port)
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start() -> TemporaryServer | None:
    """The temporary server, starting; None when a server is configured or ephemeral mode is off."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED, get_current_settings

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None
    import prefect

    settings = get_current_settings()
    database = _sqlite_file(settings.server.database.connection_url)
    skip = database is not None and _at_recorded_revision(database, prefect.__version__)
    environment = {
        **os.environ,
        **settings.to_environment_variables(exclude_unset=True),
        # as Prefect starts its temporary server: no UI, ephemeral services
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    if skip:
        environment["PREFECT_API_DATABASE_MIGRATE_ON_START"] = "false"
    # Automations' triggers: a server that lives for one run has none to evaluate, and starting
    # them is ~0.25 s of its start (measured, alternating starts).
    environment.setdefault("PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED", "false")
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parent.parent),
               "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "error", "--lifespan", "on"]  # fmt: skip
    server = TemporaryServer(subprocess.Popen(command, env=environment), port, database, not skip)
    atexit.register(server.stop)
    return server


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


def _at_recorded_revision(database: Path, version: str) -> bool:
    try:
        recorded = json.loads((database.parent / MARKER).read_text())
    except (OSError, ValueError):
        return False
    revision = _revision(database)
    return revision is not None and recorded == {"prefect": version, "revision": revision}


def _record_revision(database: Path | None) -> None:
    """After a migrated start: this Prefect version's revision, for the next start to compare."""
    import prefect

    revision = _revision(database) if database is not None else None
    if database is None or revision is None:
        return
    marker = database.parent / MARKER
    partial = marker.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"prefect": prefect.__version__, "revision": revision}))
    os.replace(partial, marker)
