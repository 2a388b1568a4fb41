"""Where a warm `make run` spends its time: interpreter and imports, the temporary Prefect
server, each declared step, and the exit.

"Warm" is a second `coopindex run --edition N` into a warehouse whose trade store is current
(the venv installed, the trade files already ingested), as `make run` is after its first time.
The command runs as a user runs it, in its own process; its log's timestamps give when the
flow begins and ends, and the step seconds come from the same run's returned timings (the pipeline
times every step). Start-up costs are measured in fresh interpreters: `coopindex --help`,
`import prefect`, `import great_expectations`, a temporary server alone. No timing is
asserted; the goal is 10 s.

Run: `.venv/bin/python bench/bench_run_split.py [--edition 2018] [--repeat 2]`
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STAMP = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| \w+\s+\| (.*)$")
GOAL_S = 10.0
MARKS = (("flow_begins", "Beginning flow run"), ("server_stopping", "Stopping temporary server"))
SERVER = "from prefect.server.api.server import SubprocessASGIServer as S; s = S(); s.start(); s.stop()"
# The run's own start of the same server (flows/ephemeral.py), and the imports it overlaps.
RUN_SERVER = "import flows; from flows.ephemeral import start; s = start(); s.wait(300); s.stop()"
RUN_IMPORTS = "import flows.cli, flows.edition, great_expectations"


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def best(args: list[str], repeat: int) -> float:
    return min(wall(args) for _ in range(repeat))


def timed_run(edition: int, warehouse: Path) -> dict[str, float]:
    """One `coopindex run`: its wall time and the split its log shows."""
    started = datetime.now()
    begin = time.perf_counter()
    command = [str(BIN / "coopindex"), "run", "--edition", str(edition), "--warehouse", str(warehouse)]
    done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    total = time.perf_counter() - begin
    marks: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = STAMP.match(line)
        if not match:
            continue
        clock = datetime.combine(started.date(), datetime.strptime(match[1], "%H:%M:%S.%f").time())
        at = (clock - started).total_seconds()
        for key, text in MARKS:
            if text in match[2]:
                marks.setdefault(key, at)
        if "Flow run" in match[2] and "Finished in state" in match[2]:
            marks["flow_ends"] = at
    return {"total_s": total, **marks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edition", type=int, default=2018)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tasks.edition.pipeline import run_edition
    from tasks.warehouse.catalog import Catalog

    help_s = best([str(BIN / "coopindex"), "--help"], args.repeat)
    prefect_s = best([sys.executable, "-c", "import prefect"], args.repeat)
    gx_s = best([sys.executable, "-c", "import great_expectations"], args.repeat)
    server_s = best([sys.executable, "-c", SERVER], args.repeat)
    run_server_s = best([sys.executable, "-c", RUN_SERVER], args.repeat)
    imports_s = best([sys.executable, "-c", RUN_IMPORTS], args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Path(folder) / "warehouse"
        timed_run(args.edition, warehouse)  # cold: ingests the trade store, untimed
        runs = [timed_run(args.edition, warehouse) for _ in range(args.repeat)]
        steps = run_edition(Catalog.at(warehouse=warehouse), args.edition)["timings"]
    run = {"flow_begins": float("nan"), "flow_ends": float("nan")} | min(runs, key=lambda r: r["total_s"])
    split = {
        "start to the flow (imports and server start, overlapped)": run["flow_begins"],
        "the flow run (every step, Prefect's task overhead)": run["flow_ends"] - run["flow_begins"],
        "after the flow: task records, server stop, ranking printed": run["total_s"] - run["flow_ends"],
    }
    print(f"warm `coopindex run --edition {args.edition}`: best of {args.repeat}: {run['total_s']:.2f} s "
          f"(goal {GOAL_S:.0f} s, ratio {run['total_s'] / GOAL_S:.2f})")  # fmt: skip
    for label, seconds in split.items():
        print(f"  {label:<62} {seconds:6.2f} s")
    print(
        f"fresh interpreters: coopindex --help {help_s:.2f} s, import prefect {prefect_s:.2f} s, "
        f"import great_expectations {gx_s:.2f} s, a temporary server started and stopped {server_s:.2f} s"
    )
    print(
        f"  the run's own: its server started (migrations skipped when current) and stopped "
        f"{run_server_s:.2f} s, its imports ({RUN_IMPORTS.removeprefix('import ')}) {imports_s:.2f} s"
    )
    print(f"the steps in process (run_edition, no Prefect), {sum(steps.values()):.2f} s in all:")
    for name, seconds in sorted(steps.items(), key=lambda item: -item[1]):
        print(f"  {name:<30} {seconds:6.2f} s")
    print(json.dumps({"run": run, "split_s": split, "steps_s": steps}, default=float))


if __name__ == "__main__":
    main()
