"""`coopindex score` against the engine alone, at 10,000 units x 100 indicators x 4 levels.

    .venv/bin/python bench/bench_score.py

Writes the synthetic index of bench/bench_engine.py as CSV files, then times (a) the engine in
process (`compute_index`, `analyse`, `audit`) and (b) the whole command in a new process
(start-up, reading, the engine, writing every file, printing). The target: (b) within 3x (a).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_engine import FULL, synthetic_data, synthetic_framework  # noqa: E402
from tasks.engine.analysis import analyse, audit  # noqa: E402
from tasks.engine.index import compute_index  # noqa: E402
from tasks.engine.method import read_method  # noqa: E402
from tasks.engine.units import read_framework, read_units  # noqa: E402


def main() -> None:
    size = FULL["scoring"]
    rng = np.random.default_rng(0)
    framework = synthetic_framework(size.branching, rng)
    raw = synthetic_data(framework, size.units, rng)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        framework.table.to_csv(work / "framework.csv", index=False)
        raw.rename_axis("unit").reset_index().to_csv(work / "data.csv", index=False)
        (work / "method.yaml").write_text("name: bench\nversion: '1'\n")
        tree, settings = read_framework(work / "framework.csv")
        units = read_units(work / "data.csv", tree, settings)
        method = read_method(work / "method.yaml")
        start = time.perf_counter()
        stages = compute_index(units.indicators, tree, method, settings=settings)
        analysis = analyse(stages, tree, method, settings=settings)
        middle = time.perf_counter()
        audit(stages, tree, method)
        engine = time.perf_counter() - start
        print(f"engine in process: {engine:.2f} s (compute_index + analyse {middle - start:.2f} s, "
              f"audit {engine - (middle - start):.2f} s; {len(analysis)} analysis tables)")  # fmt: skip
        command = [sys.executable, "-m", "flows.cli", "score", "--framework", str(work / "framework.csv"),
                   "--data", str(work / "data.csv"), "--method", str(work / "method.yaml"),
                   "--out", str(work / "out")]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        whole = time.perf_counter() - start
        begin = time.perf_counter()
        help_only = [sys.executable, "-m", "flows.cli", "--help"]
        subprocess.run(help_only, cwd=ROOT, check=True, capture_output=True)
        startup = time.perf_counter() - begin
    k, levels = len(framework.indicators), len(framework.levels)
    print(f"coopindex score, {size.units} units x {k} indicators x {levels} levels: {whole:.2f} s "
          f"(start-up alone, coopindex --help: {startup:.2f} s) | ratio {whole / engine:.1f}x "
          "(target <= 3x)")  # fmt: skip


if __name__ == "__main__":
    main()
