import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tasks.trade.ingest import MAX_VERSIONS, PRUNE_AFTER_S, update_store
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tasks.warehouse.publish import KEEP_VERSIONS, publish, published_version
from tests.conftest import tree_digest


def frames(value: float) -> dict[str, pd.DataFrame]:
    return {"scores": pd.DataFrame({"city_code": ["A", "B"], "score": [value, 1.0]})}


def test_publish_switches_the_edition_and_keeps_one_previous_version(tmp_path):
    catalog = Catalog(warehouse=tmp_path)
    for i in range(3):
        publish(catalog, 2018, f"run{i}", frames(float(i)), {"run_id": f"run{i}"})
        assert pd.read_parquet(catalog.dataset(2018, "scores"))["score"][0] == i
    assert published_version(catalog, 2018).name == "run2"
    assert len(list((catalog.versions / "2018").iterdir())) == KEEP_VERSIONS


def test_a_failed_write_leaves_the_published_edition_untouched(tmp_path):
    catalog = Catalog(warehouse=tmp_path)
    publish(catalog, 2018, "good", frames(5.0), {})
    publish(catalog, 2019, "other", frames(6.0), {})
    before = tree_digest(tmp_path)
    broken = frames(7.0) | {"validation": pd.DataFrame({"x": [object()]})}  # not writable as Parquet
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        publish(catalog, 2018, "bad", broken, {})
    assert tree_digest(tmp_path) == before
    assert pd.read_parquet(catalog.dataset(2018, "scores"))["score"][0] == 5.0


def test_data_files_are_byte_identical_for_identical_frames(tmp_path):
    catalog = Catalog(warehouse=tmp_path)
    publish(catalog, 2018, "one", frames(1.0), {"run_id": "one"})
    first = catalog.dataset(2018, "scores").read_bytes()
    publish(catalog, 2018, "two", frames(1.0), {"run_id": "two"})
    assert catalog.dataset(2018, "scores").read_bytes() == first


# --- a staging killed with -9, and what pruning keeps ---------------------------------------------

# A child that stages a version of edition 2018 as `stage` does and stops for good in the middle
# of writing it: one Parquet file written, the next never finished. It signals, then waits to be
# killed; `staged`'s cleanup never runs, as after a kill -9.
_STAGING_CHILD = """
import sys, time
from pathlib import Path
import pandas as pd
from tasks.warehouse.catalog import Catalog
from tasks.warehouse.publish import stage

warehouse, ready = Path(sys.argv[1]), Path(sys.argv[2])

def stuck(path):
    path.write_bytes(b"PAR1")
    ready.touch()
    time.sleep(600)

scores = pd.DataFrame({"city_code": ["A", "B"], "score": [9.0, 1.0]})
stage(Catalog(warehouse=warehouse), 2018, "killed", {"scores": scores, "city_trade": stuck})
"""


def stage_and_kill(catalog: Catalog, tmp_path: Path) -> Path:
    """Run `_STAGING_CHILD` in a real process and kill it with SIGKILL while it stages."""
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", _STAGING_CHILD, str(catalog.warehouse), str(ready)],
        cwd=PROJECT_ROOT, env=os.environ | {"PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.poll() is None, "the staging child died on its own"
            assert time.monotonic() < deadline, "the staging child never started writing"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    return catalog.edition_version(2018, "killed")


def test_a_staging_killed_with_minus_9_is_never_kept_in_place_of_the_version_to_roll_back_to(tmp_path):
    catalog = Catalog(warehouse=tmp_path / "warehouse")
    publish(catalog, 2018, "good", frames(5.0), {"run_id": "good"})
    leftover = stage_and_kill(catalog, tmp_path)
    assert (leftover / "scores.parquet").is_file() and not (leftover / "manifest.json").exists()

    publish(catalog, 2018, "next", frames(6.0), {"run_id": "next"})
    versions = catalog.edition_versions(2018)
    assert sorted(p.name for p in versions.iterdir()) == ["good", "next"]
    assert pd.read_parquet(versions / "good" / "scores.parquet")["score"][0] == 5.0

    publish(catalog, 2018, "last", frames(7.0), {"run_id": "last"})
    assert sorted(p.name for p in versions.iterdir()) == ["last", "next"]
    assert published_version(catalog, 2018).name == "last"
    # Rolling back is pointing the link at the version before: it is complete.
    before = versions / "next"
    assert json.loads((before / "manifest.json").read_text())["run_id"] == "next"
    assert pd.read_parquet(before / "scores.parquet")["score"][0] == 6.0


# --- the trade store: bounded by count as well as age ----------------------------------------------


@pytest.fixture()
def small_raw(tmp_path: Path) -> Path:
    """The shipped reference tables and the first 200 records of one month: a quick ingest."""
    root = tmp_path / "raw"
    shutil.copytree(PROJECT_ROOT / "raw" / "reference", root / "reference")
    month = root / "trade" / "2018" / "2018-01.csv"
    month.parent.mkdir(parents=True)
    lines = (PROJECT_ROOT / "raw" / "trade" / "2018" / "2018-01.csv").read_text().splitlines()
    month.write_text("\n".join(lines[:201]) + "\n")
    return root


def test_forced_ingests_in_a_row_keep_at_most_max_versions_of_the_trade_store(small_raw, tmp_path):
    catalog = Catalog(raw=small_raw, warehouse=tmp_path / "warehouse")
    names = []
    for _ in range(MAX_VERSIONS + 2):
        update_store(catalog, workers=1, force=True)
        names.append(catalog.trade_store.resolve().name)
        time.sleep(0.01)  # distinct modification times, as between real runs
    kept = sorted(p.name for p in catalog.trade_versions.iterdir())
    # All are younger than PRUNE_AFTER_S: the count alone bounds them, and the newest stay.
    assert kept == sorted(names[-MAX_VERSIONS:])
    assert all((catalog.trade_versions / name / "manifest.json").is_file() for name in kept)
    assert catalog.trade_store.resolve().name == names[-1]


def test_an_old_trade_version_goes_once_two_newer_are_published(small_raw, tmp_path):
    catalog = Catalog(raw=small_raw, warehouse=tmp_path / "warehouse")
    update_store(catalog, workers=1)
    first = catalog.trade_store.resolve()
    hour_ago = time.time() - PRUNE_AFTER_S - 60
    os.utime(first, (hour_ago, hour_ago))
    update_store(catalog, workers=1, force=True)
    assert first.exists()  # the one before the published one
    update_store(catalog, workers=1, force=True)
    assert not first.exists() and len(list(catalog.trade_versions.iterdir())) == KEEP_VERSIONS
