"""How much of an edition run is Prefect: the same steps as plain functions, then as the flow.

Both score edition 2018 from the shipped raw/ into temporary warehouses, in this one process
(plain first, so imports are paid by the plain run). Prints wall times and the ratio.

Run: `.venv/bin/python bench/bench_prefect_overhead.py`
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flows  # noqa: E402,F401 - Prefect defaults before Prefect is imported
from tasks.edition import steps  # noqa: E402
from tasks.warehouse.catalog import Catalog  # noqa: E402
from tasks.warehouse.publish import publish  # noqa: E402


def plain(warehouse: Path) -> None:
    inputs = steps.load_inputs(Catalog(), 2018)
    checked = steps.validate_inputs(inputs)
    checked.raise_if_blocked()
    inputs = checked.inputs
    trade_facts, city_trade = steps.derive_trade(inputs)
    values = steps.indicator_table(inputs, city_trade)
    steps.check_derived(inputs, trade_facts, values)
    stages = steps.score(inputs, values)
    analysis = steps.analyse_scores(inputs, stages)
    datasets = {"trade_facts": trade_facts, "city_trade": city_trade, "indicator_values": values,
                "scores": stages.scores} | analysis  # fmt: skip
    publish(Catalog(warehouse=warehouse), 2018, "plain", datasets, {})


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        plain(Path(folder) / "plain")
        plain_s = time.perf_counter() - start

        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from flows.edition import score_edition

        start = time.perf_counter()
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            score_edition(2018, warehouse_dir=str(Path(folder) / "flow"))
        flow_s = time.perf_counter() - start
    print(f"plain functions: {plain_s:.2f} s")
    print(f"Prefect flow (temporary server, Data Docs, artifacts): {flow_s:.2f} s")
    print(f"ratio flow / plain: {flow_s / plain_s:.2f}; Prefect and its extras: {flow_s - plain_s:.2f} s")


if __name__ == "__main__":
    main()
