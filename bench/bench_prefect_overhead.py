"""How much of an edition run is Prefect: the declared pipeline in memory, then as the flow.

Both score one edition from raw/ into temporary warehouses seeded with the same trade store,
in this one process (in memory first, so imports are paid by that run). Prints wall times
and the ratio; `--edition`, `--raw` choose what is scored, `--store` a warehouse whose trade
store is already current for that raw/ (the test session passes its own), to copy instead of
ingesting one, and `--keep DIR` keeps both warehouses (DIR/memory, DIR/flow) to look at (the
test session's published edition is the flow side of its run).

Run: `.venv/bin/python bench/bench_prefect_overhead.py [--edition 2018] [--raw raw] [--store DIR]
[--keep DIR]`
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flows  # noqa: E402,F401 - Prefect defaults before Prefect is imported
from tasks.edition.pipeline import run_edition  # noqa: E402
from tasks.trade.ingest import update_store  # noqa: E402
from tasks.warehouse.catalog import Catalog  # noqa: E402


def measure(edition: int, raw: Path, seeded: Path | None = None, keep: Path | None = None) -> dict[str, Any]:
    """Seconds of one in-memory run and one flow run of `edition`, from the same trade store
    (a copy of `seeded`'s, or one ingested here), the flow's summary, and whether both wrote the
    same Parquet files. The warehouses are kept in `keep` when given."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.edition import score_edition

    with contextlib.ExitStack() as stack:
        folder = keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if seeded is None:
            seeded = folder / "store"
            update_store(Catalog.at(raw, seeded))  # both runs find their trade files already ingested
        for side in ("memory", "flow"):
            shutil.copytree(seeded, folder / side, symlinks=True)
        start = time.perf_counter()
        run_edition(Catalog.at(raw, folder / "memory"), edition)
        memory_s = time.perf_counter() - start
        start = time.perf_counter()
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            summary = score_edition(edition, raw_dir=str(raw), warehouse_dir=str(folder / "flow"))
        flow_s = time.perf_counter() - start
        memory, flow = (folder / side / f"edition={edition}" for side in ("memory", "flow"))
        names = sorted(p.name for p in flow.glob("*.parquet"))
        same = names == sorted(p.name for p in memory.glob("*.parquet")) and all(
            (memory / name).read_bytes() == (flow / name).read_bytes() for name in names
        )
    return {
        "memory_s": memory_s, "flow_s": flow_s, "ratio": flow_s / memory_s,
        "same_outputs": same, "compared": len(names), "summary": summary,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edition", type=int, default=2018)
    parser.add_argument("--raw", type=Path, default=Catalog().raw)
    parser.add_argument("--store", type=Path, help="a warehouse whose trade store is current for --raw")
    parser.add_argument("--keep", type=Path, help="an empty folder to keep both warehouses in")
    args = parser.parse_args(argv)
    result = measure(args.edition, args.raw.resolve(), args.store, args.keep)
    print(f"declared pipeline in memory: {result['memory_s']:.2f} s")
    print(f"the same bytes in all {result['compared']} Parquet files from both: {result['same_outputs']}")
    print(f"Prefect flow (temporary server, tasks, artifacts): {result['flow_s']:.2f} s")
    print(
        f"ratio flow / in memory: {result['ratio']:.2f}; "
        f"Prefect and its extras: {result['flow_s'] - result['memory_s']:.2f} s"
    )
    return result


if __name__ == "__main__":
    main()
