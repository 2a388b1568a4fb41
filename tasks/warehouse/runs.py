"""What ran when: the run logs a backfill writes and the manifests of kept versions, behind `coopindex runs`.

Runs are read from the warehouse alone: the manifests of published versions (the current
one of each edition and the one kept before it) and the small run logs a backfill writes to
`warehouse/runs/<run_id>/run.json` for every edition it runs, failed ones included.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from tasks.warehouse.catalog import Catalog
from tasks.warehouse.publish import published_version

RUN_COLUMNS = (
    "edition", "run_id", "flow_run_id", "started_at", "finished_at", "duration_s", "status",
    "top_city", "git_commit", "error",
)  # fmt: skip


def write_run_log(catalog: Catalog, record: Mapping[str, Any]) -> Path:
    """Write one run's record to `warehouse/runs/<run_id>/run.json` (temp file, then rename)."""
    target = catalog.run_log(record["run_id"])
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(dict(record), indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    return target


def list_runs(catalog: Catalog) -> pd.DataFrame:
    """Recent runs, newest first: one row per run, with `RUN_COLUMNS`.

    status is "published" for the version an edition points at, "superseded" for the version
    kept before it, "replaced" for an older published run whose files have been deleted, and
    "failed" for a run that published nothing. Times come from the manifest when there is one,
    else from the run log; `duration_s` is finished_at - started_at. `top_city` is the city's
    name where the version's files still exist, else its code.
    """
    rows: dict[str, dict[str, Any]] = {}
    for log in catalog.run_logs():
        record = read_json(log)
        if record and record.get("run_id"):
            row = {c: record.get(c) for c in RUN_COLUMNS}
            if row["status"] == "published":  # its version is not on disk, or the manifest says more
                row["status"] = "replaced"
            rows[record["run_id"]] = row
    for manifest_path in catalog.version_manifests():
        manifest = read_json(manifest_path)
        if not manifest or not manifest.get("run_id"):
            continue
        version = manifest_path.parent
        code = (manifest.get("summary") or {}).get("top")
        current = published_version(catalog, manifest.get("edition")) == version.resolve()
        rows[manifest["run_id"]] = {
            "edition": manifest.get("edition"),
            "run_id": manifest["run_id"],
            "flow_run_id": manifest.get("flow_run_id"),
            "started_at": manifest.get("started_at"),
            "finished_at": manifest.get("finished_at"),
            "duration_s": None,
            "status": "published" if current else "superseded",
            "top_city": city_name(version, code),
            "git_commit": manifest.get("git_commit"),
            "error": None,
        }
    table = pd.DataFrame(list(rows.values()), columns=list(RUN_COLUMNS))
    for column in ("started_at", "finished_at"):
        table[column] = pd.to_datetime(table[column], utc=True, format="ISO8601")
    table["duration_s"] = (table["finished_at"] - table["started_at"]).dt.total_seconds().round(3)
    table["edition"] = table["edition"].astype("Int64")
    return table.sort_values(["started_at", "run_id"], ascending=False, na_position="last").reset_index(
        drop=True
    )


def city_name(version: Path, code: str | None) -> str | None:
    """The English name of city `code` from a version's city_trade.parquet; the code if unknown."""
    path = version / "city_trade.parquet"
    if code is None or not path.is_file():
        return code
    try:
        table = pq.read_table(path, columns=["city_code", "city_name"]).to_pandas()
    except (OSError, KeyError, ValueError):
        return code
    names = table.set_index("city_code")["city_name"]
    return str(names.get(code, code))


def read_json(path: Path) -> dict[str, Any] | None:
    """A run log or manifest as a dict; None when it is missing, unreadable or not an object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def referenced_data_docs(catalog: Catalog) -> set[Path]:
    """The Data Docs folders the manifests of kept edition versions link to: pruning spares them,
    so a published edition (or the one kept to roll back to) never links to a deleted report."""
    folders = set()
    for path in catalog.version_manifests():
        manifest = read_json(path) or {}
        link = ((manifest.get("validation") or {}).get("reports") or {}).get("data_docs")
        if isinstance(link, str) and link:
            folders.add((catalog.warehouse / link).parent.resolve())
    return folders
