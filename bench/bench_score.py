"""`coopindex score` against the engine alone, at 10,000 units x 100 indicators x 4 levels.

    .venv/bin/python bench/bench_score.py

Writes the synthetic index of bench/bench_engine.py as CSV files, then times (a) the command's
work in process, phase by phase and one after the other (reading, `compute_index`, `analyse`,
writing every file; then `audit`, which only `--audit` adds), and (b) the whole command in a
new process (start-up and imports, the same work, printing; it writes the files on two more
threads while it analyses), and with `--audit`. Each is the best of ROUNDS runs, (a) each in
a fresh process so that `compute_index` is a first call, as in the command. Prints (b)
against `compute_index` alone, the target (within 3x), and against (a) without the audit,
which says what the process adds or, below 1, what the writing threads save; and the load
average before and after, since the machine is shared.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_engine import FULL, synthetic_data, synthetic_framework  # noqa: E402
from tasks.engine.analysis import analyse, audit  # noqa: E402
from tasks.engine.export import write_index  # noqa: E402
from tasks.engine.index import compute_index  # noqa: E402
from tasks.engine.method import read_method  # noqa: E402
from tasks.engine.units import read_framework, read_units  # noqa: E402

ROUNDS = 3  # each measure is the best of this many: the machine is shared, noise only adds time


def main() -> None:
    if sys.argv[1:2] == ["--phases"]:  # one round of (a), in a fresh process: compute_index's first call
        print(json.dumps(in_process(Path(sys.argv[2]))))
        return
    load = os.getloadavg()[0]
    size = FULL["scoring"]
    rng = np.random.default_rng(0)
    framework = synthetic_framework(size.branching, rng)
    raw = synthetic_data(framework, size.units, rng)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        framework.table.to_csv(work / "framework.csv", index=False)
        raw.rename_axis("unit").reset_index().to_csv(work / "data.csv", index=False)
        (work / "method.yaml").write_text("name: bench\nversion: '1'\n")
        rounds = [
            json.loads(_run([sys.executable, str(Path(__file__).resolve()), "--phases", str(work)])[1])
            for _ in range(ROUNDS)
        ]
        phases = {name: min(r[name] for r in rounds) for name in rounds[0]}
        engine_cpu = phases.pop("compute_index_cpu")
        command = [sys.executable, "-m", "flows.cli", "score", "--framework", str(work / "framework.csv"),
                   "--data", str(work / "data.csv"), "--method", str(work / "method.yaml"),
                   "--out", str(work / "command")]  # fmt: skip
        runs = [_run(command) for _ in range(ROUNDS)]
        wholes, cpu = [run[0] for run in runs], min(run[2] for run in runs)
        audited = min(_run([*command, "--audit"])[0] for _ in range(ROUNDS))
        startup = min(_run([sys.executable, "-m", "flows.cli", "--help"])[0] for _ in range(ROUNDS))
    whole, engine = min(wholes), phases["compute_index"]
    same = sum(seconds for name, seconds in phases.items() if name != "audit")
    k, levels = len(framework.indicators), len(framework.levels)
    print(f"best of {ROUNDS} runs each")
    print("in process: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items())
          + f"; total without the audit {same:.2f} s")  # fmt: skip
    print(f"coopindex score, {size.units} units x {k} indicators x {levels} levels: {whole:.2f} s in a new "
          f"process (runs: {', '.join(f'{w:.2f}' for w in wholes)} s; start-up alone, coopindex --help: "
          f"{startup:.2f} s)")  # fmt: skip
    print(f"  ratio against the engine alone (compute_index {engine:.2f} s): {whole / engine:.1f}x "
          "(target <= 3x)")  # fmt: skip
    print(f"  ratio against the same work in process (reading, engine, analysis, writing "
          f"{same:.2f} s): {whole / same:.2f}x")  # fmt: skip
    print(f"  CPU seconds (less noisy on a shared machine): the command {cpu:.2f}, compute_index "
          f"{engine_cpu:.2f}: {cpu / engine_cpu:.1f}x")  # fmt: skip
    print(f"coopindex score --audit (also correlations, PCA, leave-one-out): {audited:.2f} s, "
          f"{audited / engine:.1f}x compute_index")  # fmt: skip
    print(f"load average (1 min) {load:.2f} before, {os.getloadavg()[0]:.2f} after")


def _run(command: list[str]) -> tuple[float, str, float]:
    """Seconds the command took, its standard output, and the CPU seconds it used (all threads)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, done.stdout, after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime


def in_process(work: Path) -> dict[str, float]:
    """The command's work, phase by phase, one after the other, in this process (its modules
    already imported)."""
    phases, clock = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name], clock = now - clock, now

    tree, settings = read_framework(work / "framework.csv")
    units = read_units(work / "data.csv", tree, settings)
    method = read_method(work / "method.yaml")
    lap("reading")
    inputs = {"denominators": units.denominators, "groups": units.groups, "settings": settings}
    cpu = time.process_time()
    stages = compute_index(units.indicators, tree, method, **inputs)
    engine_cpu = time.process_time() - cpu
    lap("compute_index")
    analysis = analyse(stages, tree, method, **inputs)
    lap("analyse")
    results = write_index(stages, tree, work / "in_process", units.names, analysis)
    pd.read_csv(results)
    lap("writing")
    audit(stages, tree, method)
    lap("audit")
    return phases | {"compute_index_cpu": engine_cpu}


if __name__ == "__main__":
    main()
