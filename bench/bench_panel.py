"""Benchmark of panel scoring: 190 units x 30 periods in one `compute_panel` run (COINr's purse).

    .venv/bin/python bench/bench_panel.py

Prints the wall time of pooled and per-period normalisation (with `latest` imputation from the
unit's other periods); a target, not a test.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_engine import synthetic_framework  # noqa: E402
from tasks.engine.method import Method  # noqa: E402
from tasks.engine.panel import compute_panel  # noqa: E402

UNITS, PERIODS = 190, 30


def main() -> None:
    rng = np.random.default_rng(0)
    framework = synthetic_framework((4, 5), rng)
    index = pd.MultiIndex.from_product(
        [[f"U{i:03d}" for i in range(UNITS)], range(1991, 1991 + PERIODS)], names=["unit", "Time"]
    )
    raw = pd.DataFrame(rng.lognormal(size=(len(index), len(framework.indicators))), index=index,
                       columns=framework.indicators)  # fmt: skip
    raw[rng.random(raw.shape) < 0.02] = np.nan
    for pooling in ("pooled", "period"):
        method = Method(name="bench", version="1", impute={"method": "latest"}, normalise={"panel": pooling})
        start = time.perf_counter()
        compute_panel(raw, framework, method, time="Time")
        print(f"panel {UNITS} units x {PERIODS} periods x {len(framework.indicators)} indicators, "
              f"normalise.panel {pooling}: {time.perf_counter() - start:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
