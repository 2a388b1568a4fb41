"""The temporary server of `coopindex run` (flows/ephemeral.py), started before Prefect is
imported: it records what it migrated, and it gives way to a server the profile names.

Each case is its own process with its own PREFECT_HOME, as a user's run is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points, version

from tests.prefect_processes import PATIENCE_S, prefect_env

RUN = """
import flows
from flows.ephemeral import start
server = start()
print(server is not None)
print(server.needed())
if server.needed():
    server.wait({patience})
server.stop()
print(server.process.poll() is not None)
"""


def run(env: dict[str, str]) -> list[str]:
    code = RUN.format(patience=PATIENCE_S)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=PATIENCE_S * 2)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_migrated_start_records_its_revision_and_collections(prefect_db, tmp_path):
    env = prefect_env(tmp_path / "home", prefect_db, current=False)  # no marker: it migrates
    assert run(env) == ["True", "True", "True"]  # started, used, stopped
    marker = json.loads((tmp_path / "home" / "coopindex-migrated.json").read_text())
    assert marker["prefect"] == version("prefect")
    assert marker["revision"]  # the database's alembic revision
    dask = [e for e in entry_points(group="prefect.collections") if e.name == "prefect_dask"]
    assert marker["collections"] == [f"prefect_dask={dask[0].dist.version}"]


def test_a_server_named_in_the_profile_stops_the_one_started(prefect_db, tmp_path):
    """The environment had no PREFECT_API_URL, so the run started a server at once; the profile,
    read once Prefect is imported, names one: the run stops its own and uses that one."""
    env = prefect_env(tmp_path / "home", prefect_db)
    profiles = tmp_path / "home" / "profiles.toml"
    profiles.write_text(
        'active = "remote"\n\n[profiles.remote]\nPREFECT_API_URL = "http://127.0.0.1:9/api"\n'
    )
    assert run(env | {"PREFECT_PROFILES_PATH": str(profiles)}) == ["True", "False", "True"]
