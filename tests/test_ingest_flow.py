"""The ingest flow on a real Dask LocalCluster writes what the local process pool writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.bench.synthetic_trade import generate
from tasks.trade.ingest import update_store
from tasks.warehouse.catalog import Catalog

ROWS = 100_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("generated") / "raw", ROWS)


def _outputs(warehouse: Path) -> dict[str, bytes]:
    """Every file of the published store by path; the manifest without run-specific fields."""
    store = warehouse / "trade"
    files = {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*.parquet"))}
    manifest = json.loads((store / "manifest.json").read_text())
    for entry in manifest["files"].values():
        for key in ("seconds", "hashed_ns"):
            entry.pop(key)
    manifest.pop("version")
    return files | {"manifest.json": json.dumps(manifest, sort_keys=True).encode()}


@pytest.mark.slow
def test_dask_runner_output_equals_the_local_runners(prefect_server, generated, tmp_path):
    from flows.ingest import shared_api, with_runner

    local = update_store(Catalog(raw=generated.raw_dir, warehouse=tmp_path / "local"), workers=2)
    with shared_api():
        summary = with_runner("dask", workers=2)(
            raw_dir=str(generated.raw_dir), warehouse_dir=str(tmp_path / "dask")
        )

    assert summary["rows_in"] == local.rows_in == ROWS
    assert 0 < summary["rows_quarantined"] == local.rows_quarantined <= generated.bad_rows
    assert len(summary["ingested"]) == 12
    ours, theirs = _outputs(tmp_path / "local"), _outputs(tmp_path / "dask")
    assert sorted(ours) == sorted(theirs) and len(ours) > 12 * 3
    assert [name for name in ours if ours[name] != theirs[name]] == []
