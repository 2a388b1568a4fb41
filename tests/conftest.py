"""Shared fixtures: a real Prefect test server for the session, the shipped sample, a scored edition."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import websockets.asyncio.connection
import websockets.client
import websockets.sync.connection

import flows  # noqa: F401 - Prefect defaults before Prefect is imported
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tests.browser import browser  # noqa: F401 - the session's browser fixture

# Once a flow has run, Prefect's events client keeps a websocket open in a background thread, and
# websockets draws each ping's payload from the global `random` (its keepalive ping every 20 s,
# Prefect's checkpoint pings). A ping that lands while Hypothesis draws an example changes the
# global random state in the middle of the draw, and Hypothesis then warns "Do not use the
# `random` module inside strategies" (HypothesisDeprecationWarning) in whichever test is drawing:
# intermittently, as it depends on timing. A private Random for websockets (a ping payload only
# has to differ from the previous one) leaves the global one to the tests.
for _module in (websockets.asyncio.connection, websockets.sync.connection, websockets.client):
    _module.random = random.Random()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a slow test first, each kept whole and in order: the two workers (which take
    one module at a time) then start on the long ones and end on short ones, instead of one
    worker finishing a long module alone at the end. Of the slow ones, the first that needs the
    session's published edition (`published_2018`, minutes to make) leads, then those that do
    not: the other worker works on them meanwhile instead of waiting for the edition (measured:
    one worker ~45 s idle on its lock when the second slow module also needed it). A module that
    makes something once for the run that a later module reads too (`MAKES_FOR_OTHERS = True`)
    is ordered as a slow one: made by the time the reader comes, instead of the two starting
    together and one idling on the lock (measured: ~10 s)."""
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    slow |= {item.module.__name__ for item in items if getattr(item.module, "MAKES_FOR_OTHERS", False)}
    shared = {item.module.__name__ for item in items if "published_2018" in item.fixturenames}
    maker = next((item.module.__name__ for item in items if item.module.__name__ in slow & shared), None)

    def order(item: pytest.Item) -> int:
        module = item.module.__name__
        if module not in slow:
            return 3
        return 0 if module == maker else 2 if module in shared else 1

    items.sort(key=order)


@pytest.fixture(scope="session")
def prefect_db(tmp_path_factory) -> Path:
    """A user's Prefect database after their first `coopindex run`, made once for the run by that
    run's own temporary server (flows/ephemeral.py): every migration applied, the block types
    registered, and the marker that records both beside it. Each server a test starts begins
    from a copy (`prefect_processes.prefect_env`) and skips what is done, as a user's second run
    does (measured: a fresh migration is about half of a server's start)."""
    from flows.ephemeral import MARKER

    def make(folder: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
        code = "import flows; from flows.ephemeral import start; s = start(); s.wait(600); s.stop()"
        done = subprocess.run(
            [sys.executable, "-c", code], env=env | {"PREFECT_HOME": str(folder)}, cwd=PROJECT_ROOT,
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        made = (folder / "prefect.db").is_file() and (folder / MARKER).is_file()
        assert done.returncode == 0 and made, done.stdout + done.stderr
        # The server stopped with its last writes in the write-ahead log: into the file, which
        # is what the tests copy.
        with contextlib.closing(sqlite3.connect(folder / "prefect.db")) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    return made_once(tmp_path_factory, "prefect-db", make) / "prefect.db"


@pytest.fixture(scope="session")
def prefect_server(prefect_db, tmp_path_factory):
    """One real (temporary, SQLite) Prefect API for every flow run of the session, on a copy of
    the migrated database (Prefect's harness puts its database in a folder of its own making)."""
    import prefect.settings
    import prefect.testing.utilities as harness
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.ephemeral import CURRENT_DATABASE

    done_already = {getattr(prefect.settings, k): v == "true" for k, v in CURRENT_DATABASE.items()}

    folder = tmp_path_factory.mktemp("prefect-test-db")
    shutil.copyfile(prefect_db, folder / "prefect-test.db")
    own_folder = harness.mkdtemp
    harness.mkdtemp = lambda: str(folder)
    try:
        with (
            temporary_settings(done_already),  # the copy is migrated, its block types registered
            harness.prefect_test_harness(server_startup_timeout=300),  # generous: a busy machine is slower
            temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        ):
            harness.mkdtemp = own_folder
            yield
    finally:
        harness.mkdtemp = own_folder


def made_once(tmp_path_factory, name: str, make) -> Path:
    """`make(folder)` run once for the whole test run, even under pytest-xdist: the first worker
    to need it makes it under a file lock in the run's temporary folder, the others wait for it
    and use the same folder (tests only read or copy it)."""
    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, above each worker's own
    folder, done = shared / name, shared / f"{name}.done"
    with FileLock(shared / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that died half-way
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def shipped_store(tmp_path_factory) -> Path:
    """The shipped sample's trade files ingested once (a warehouse holding only the trade store)."""
    from tasks.trade.ingest import update_store

    def make(folder: Path) -> None:
        update_store(Catalog(raw=PROJECT_ROOT / "raw", warehouse=folder), workers=2)

    return made_once(tmp_path_factory, "store-template", make)


@pytest.fixture()
def warehouse(shipped_store, tmp_path) -> Path:
    """A new warehouse whose trade store already holds the shipped sample's files: an edition's
    ingest step then reads only the files a test changed (the rest is checked by checksum)."""
    return seeded_warehouse(shipped_store, tmp_path / "warehouse")


def seeded_warehouse(template: Path, target: Path) -> Path:
    """Copy the trade store of `template` (real copies: tests may rewrite files) into `target`."""
    version = (template / "trade").resolve()
    copy = target / "_versions" / "trade" / version.name
    shutil.copytree(version, copy)
    (target / "trade").symlink_to(copy.relative_to(target))
    return target


ARTIFACTS = ("edition-2018-ranking", "edition-2018-summary")  # what the run leaves in Prefect


@pytest.fixture(scope="session")
def published_2018(request, shipped_store, tmp_path_factory) -> tuple[Path, dict]:
    """The 2018 edition scored once by the real flow from the shipped raw/ into a warehouse that
    no test writes to, and the flow's summary: a test that needs a published edition works on a
    `copy_warehouse` of it. Once for the whole run (the worker that makes it starts its server).

    The flow run is the flow side of the overhead benchmark (bench/bench_prefect_overhead.py),
    which scores the edition in memory first and compares the two editions' Parquet files: its
    result and what it printed are kept for its smoke test (`overhead_benchmark`)."""

    def make(folder: Path) -> None:
        request.getfixturevalue("prefect_server")
        spec = importlib.util.spec_from_file_location(
            "overhead", PROJECT_ROOT / "bench" / "bench_prefect_overhead.py"
        )
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            result = bench.main(["--edition", "2018", "--store", str(shipped_store), "--keep", str(folder)])
        (folder / "summary.json").write_text(json.dumps(result.pop("summary")))
        (folder / "bench.json").write_text(json.dumps(result | {"printed": printed.getvalue()}))
        (folder / "artifacts.json").write_text(json.dumps(read_artifacts(ARTIFACTS)))

    folder = made_once(tmp_path_factory, "published-2018", make)
    return folder / "flow", json.loads((folder / "summary.json").read_text())


def overhead_benchmark(published: Path) -> dict:
    """What the overhead benchmark that made `published_2018` returned and printed."""
    return json.loads((published.parent / "bench.json").read_text())


def read_artifacts(keys: tuple[str, ...]) -> dict[str, str | None]:
    """The newest artifact of each key, as this process's Prefect API holds it."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def newest() -> dict[str, str | None]:
        async with get_client() as client:
            found = {}
            for key in keys:
                only = ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
                artifacts = await client.read_artifacts(artifact_filter=only)
                found[key] = str(artifacts[-1].data) if artifacts else None
            return found

    return asyncio.run(newest())


def run_data_steps(catalog: Catalog, edition: int):
    """`run_edition` without the steps that write the report and the workbook (seconds a run,
    mostly the report's): for tests of the data an edition publishes, which read neither. The
    edition is still staged, given its manifest and published; the report and the workbook have
    their own tests (test_report*.py, test_workbook.py, and every real flow run)."""
    from tasks.edition.pipeline import EDITION, run_edition

    data_steps = EDITION.without("write-workbook", "write-report")
    data_steps.check()
    return run_edition(catalog, edition, data_steps)


def published_artifacts(published: Path) -> dict[str, str | None]:
    """The artifacts `published_2018`'s run left, read from the API of the worker that ran it
    (right after the run: the other worker's server never saw that run)."""
    return json.loads((published.parent / "artifacts.json").read_text())


@pytest.fixture(scope="session")
def sample_edition(published_2018, tmp_path_factory) -> tuple[Catalog, dict]:
    """The 2018 edition scored by the real flow from the shipped raw/, in a temporary warehouse
    shared by the session (tests may add editions to it)."""
    pristine, summary = published_2018
    warehouse = copy_warehouse(pristine, tmp_path_factory.mktemp("sample") / "warehouse")
    return Catalog(warehouse=warehouse), summary


def copy_warehouse(source: Path, target: Path) -> Path:
    """A real copy of a whole warehouse (its links to the published versions stay relative)."""
    shutil.copytree(source, target, symlinks=True)
    return target


@pytest.fixture()
def raw_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped raw/ that a test may break."""
    target = tmp_path / "raw"
    shutil.copytree(PROJECT_ROOT / "raw", target)
    return target


def tree_digest(folder: Path, skip: tuple[str, ...] = ("runs", ".locks")) -> dict[str, str]:
    """sha256 of every published file under `folder` (editions and their versions), by path;
    a link's target for a link.

    `runs/` holds each run's reports (Data Docs, quarantined rows), written by failed runs
    too, and `.locks/` the per-edition locks: neither is the published warehouse (`skip=()`
    takes them too: every entry under `folder`).
    """
    published = [p for p in sorted(folder.rglob("*")) if p.relative_to(folder).parts[0] not in skip]
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in published
        if p.is_file()
    } | {str(p.relative_to(folder)): str(p.readlink()) for p in published if p.is_symlink()}


def coopindex(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """`coopindex ARGS` in its own process, as a user runs it from the project folder."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=timeout, env=os.environ | {"COLUMNS": "160"},
    )  # fmt: skip


@pytest.fixture()
def prefect_home(prefect_db, tmp_path) -> Path:
    """A user's PREFECT_HOME after their first run (a migrated database), private to the test."""
    from tests.prefect_processes import prefect_env

    return Path(prefect_env(tmp_path / "prefect-home", prefect_db)["PREFECT_HOME"])


def coopindex_run(raw: Path, warehouse: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`coopindex run` in its own process with its own temporary Prefect server, PREFECT_HOME
    `home`; a busy machine may take long to start that server: slower, not failing."""
    env = os.environ | {
        "COLUMNS": "200",
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
    }
    env.pop("PREFECT_API_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--raw", str(raw), "--warehouse", str(warehouse)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
