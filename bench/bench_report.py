"""What the analyst-facing outputs add to an edition run: the Excel workbook and the HTML report.

Scores one edition in memory (the declared pipeline, no Prefect) into a temporary warehouse
whose trade store is ingested first, untimed, so the edition run is what a rerun costs. Then
prints the seconds of the edition's own steps, of the steps that write the workbook and the
report (their timings in that same run), and of each of them called again on the published
edition (best of `--repeat`), with the ratio to the edition. No timing is asserted: the aim
is that they add at most a few seconds.

Run: `.venv/bin/python bench/bench_report.py [--edition 2018] [--raw raw] [--repeat 3]`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.edition.pipeline import run_edition  # noqa: E402
from tasks.report.build import rebuild_report  # noqa: E402
from tasks.report.workbook import write_workbook  # noqa: E402
from tasks.trade.ingest import update_store  # noqa: E402
from tasks.warehouse.catalog import Catalog  # noqa: E402

OUTPUT_STEPS = ("write-workbook", "write-report")  # what analysts look at, built in every run


def best_of(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(edition: int, raw: Path, repeat: int) -> dict[str, float]:
    """Seconds of the edition run, of its output steps in it, and of each output called alone."""
    with tempfile.TemporaryDirectory() as folder:
        catalog = Catalog.at(raw, Path(folder) / "warehouse")
        update_store(catalog)  # untimed: the edition finds its trade files already ingested
        start = time.perf_counter()
        timings = run_edition(catalog, edition)["timings"]
        total_s = time.perf_counter() - start
        steps_s = sum(timings[name] for name in OUTPUT_STEPS)
        published = catalog.edition_dir(edition).resolve()
        target = Path(folder) / "out" / f"edition-{edition}.xlsx"
        workbook_s = best_of(lambda: write_workbook(catalog, edition, published, target), repeat)
        report_s = best_of(lambda: rebuild_report(catalog, edition, Path(folder) / "out" / "report"), repeat)
    edition_s = total_s - steps_s
    return {
        "edition_s": edition_s,
        "steps_s": steps_s,
        "workbook_step_s": timings["write-workbook"],
        "report_step_s": timings["write-report"],
        "workbook_s": workbook_s,
        "report_s": report_s,
        "ratio": steps_s / edition_s,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edition", type=int, default=2018)
    parser.add_argument("--raw", type=Path, default=Catalog().raw)
    parser.add_argument("--repeat", type=int, default=3, help="calls of each output alone; the best counts")
    args = parser.parse_args(argv)
    r = measure(args.edition, args.raw.resolve(), args.repeat)
    print(f"edition {args.edition} in memory, without its output steps: {r['edition_s']:.2f} s")
    print(
        f"its output steps in that run: {r['steps_s']:.2f} s "
        f"(write-workbook {r['workbook_step_s']:.2f} s, write-report {r['report_step_s']:.2f} s)"
    )
    print(f"workbook alone, on the published edition: {r['workbook_s']:.2f} s (best of {args.repeat})")
    print(f"HTML report alone, on the published edition: {r['report_s']:.2f} s (best of {args.repeat})")
    print(f"ratio output steps / edition: {r['ratio']:.3f}; they add {r['steps_s']:.2f} s")
    return r


if __name__ == "__main__":
    main()
