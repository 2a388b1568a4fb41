"""Write a scored index to a folder: every stage as Parquet, the results as CSV.

The output of `coopindex score` for an index of any shape: a user sees what each step did
(`raw.parquet` ... `aggregated.parquet`, units as rows) and gets one results table to share.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.engine.framework import Framework
from tasks.engine.index import STAGES, IndexStages
from tasks.parquet import write_parquet


def results_table(stages: IndexStages, framework: Framework, names: pd.Series | None = None) -> pd.DataFrame:
    """One row per unit (and period): name, index rank and score, then every aggregate's score,
    best first; panel data are ranked within each period."""
    aggregates = framework.table.sort_values("level", ascending=False, kind="stable")
    nodes = [c for c in aggregates["code"] if c in stages.aggregated.columns]
    index = stages.aggregated[framework.root]
    time = _time(stages.aggregated)
    codes = stages.aggregated.index.get_level_values(0)
    out = pd.DataFrame(index=stages.aggregated.index)
    out["name"] = names.reindex(codes).to_numpy() if names is not None else codes
    by = index.groupby(level=time, sort=False) if time else index
    out["rank"] = by.rank(ascending=False, method="min").astype("Int64")
    out = out.join(stages.aggregated[nodes])
    order = [time, "rank", "name"] if time else ["rank", "name"]
    return _flat(out).sort_values(order, kind="stable").reset_index(drop=True)


def _same(frame: pd.DataFrame, other: pd.DataFrame) -> bool:
    """Equal values, labels, dtypes and axis names: `write_parquet` would write the same bytes."""
    if frame is other:
        return True
    axes = [(frame.index, other.index), (frame.columns, other.columns)]
    return all(a.names == b.names and a.dtype == b.dtype for a, b in axes) and frame.equals(other)


def _time(frame: pd.DataFrame) -> str | None:
    """The time level of a panel's (unit, time) index, or None."""
    return str(frame.index.names[1]) if frame.index.nlevels == 2 else None


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """`unit` (and the time) as columns."""
    if frame.index.nlevels == 2:
        return frame.reset_index()
    return frame.rename_axis("unit").reset_index()


def write_index(
    stages: IndexStages,
    framework: Framework,
    out: Path,
    names: pd.Series | None = None,
    analysis: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write stages, long scores, reports and diagnostics, analysis and results to `out`; returns
    the results CSV."""
    write_analysis(analysis or {}, out)
    write_stages(stages, out)
    write_scores(stages, out)
    return write_results(stages, framework, out, names)


Written = tuple[pd.DataFrame, Path]  # a frame and the file of `out` that holds it


def write_stages(stages: IndexStages, out: Path, written: Written | None = None) -> None:
    """Every stage, the reports, diagnostics and weights, as Parquet in `out`.

    Needs no analysis, so that `coopindex score` writes these while it analyses. `written` is
    the last stage already in `out` (`write_stage_tables`: the command writes the first
    stages while the engine goes on): the stages up to it are not written again."""
    out.mkdir(parents=True, exist_ok=True)
    if written is None:
        written = write_stage_tables(stages, STAGES[:1], out)
    write_stage_tables(stages, STAGES[STAGES.index(written[1].stem) + 1 :], out, written)
    for name, report in (stages.reports | stages.diagnostics).items():
        write_parquet(report, out / f"{name}.parquet")
    write_parquet(stages.weights.rename("weight").rename_axis("code").reset_index(), out / "weights.parquet")


def write_stage_tables(
    source: object, names: Sequence[str], out: Path, written: Written | None = None
) -> Written:
    """The stages `names` of `source` (an `IndexStages`, or the engine's `Prepared` stages up
    to the treatment) as `out/<stage>.parquet`, in order; returns the last one.

    A stage equal to the one before it (`written`, to begin with) is copied, not encoded again
    (at 10,000 x 100 most steps change nothing, and zstd on random floats is most of the
    writing)."""
    for stage in names:
        frame, path = getattr(source, stage), out / f"{stage}.parquet"
        if written is not None and _same(frame, written[0]):
            if written[1] != path:  # a step that changed nothing: the same bytes, unencoded
                shutil.copyfile(written[1], path)
        else:
            write_table(frame, path)
        written = frame, path
    assert written is not None, "no stage named, none written before"
    return written


def write_table(frame: pd.DataFrame, path: Path) -> Written:
    """A stage (units as rows) as Parquet, `unit` (and the time) as columns; returns both, for
    the next stage to be compared with."""
    write_parquet(_flat(frame), path, float_dictionary=False)
    return frame, path


def write_scores(stages: IndexStages, out: Path) -> None:
    """The long scores (unit x node: value, score, rank, weight) as `out/scores.parquet`: the
    largest file, apart from the stages so that another thread can write it."""
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(stages.scores, out / "scores.parquet", float_dictionary=False)


def write_analysis(analysis: dict[str, pd.DataFrame], out: Path) -> None:
    """Each analysis table (contributions, strengths, correlations ...) as `out/<name>.parquet`."""
    out.mkdir(parents=True, exist_ok=True)
    for name, table in analysis.items():
        write_parquet(table, out / f"{name}.parquet")


def write_results(
    stages: IndexStages, framework: Framework, out: Path, names: pd.Series | None = None
) -> Path:
    """`results.csv` in `out` (`results_table`, floats with 6 decimals); returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.csv"
    write_csv(results_table(stages, framework, names), results)
    return results


def write_csv(table: pd.DataFrame, path: Path, float_format: str = "%.6f") -> None:
    """`table.to_csv(path, index=False, float_format=...)`, byte for byte: the csv module's writer,
    which pandas' is built on, with each column turned into text in one pass first. pandas formats
    value by value (~2 µs each: 0.5 s for 10,000 x 26 floats) and holds the GIL while it does,
    which `coopindex score`'s writing threads share."""
    texts = [_texts(table.iloc[:, at], float_format) for at in range(table.shape[1])]
    with path.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink, lineterminator=os.linesep)
        writer.writerow([str(label) for label in table.columns])
        writer.writerows(zip(*texts, strict=True))


def _texts(column: pd.Series, float_format: str) -> list[str]:
    """A column as pandas writes it: floats with `float_format`, missing values empty, the rest `str`."""
    if column.dtype == np.float64:
        values = column.to_numpy()
        texts = ((float_format + "\n") * len(values) % tuple(values.tolist())).split("\n")[:-1]
    else:
        values = column.to_numpy(dtype=object)
        texts = [str(value) for value in values]
    for at in np.flatnonzero(column.isna().to_numpy()):
        texts[at] = ""
    return texts


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A scratch folder beside `out` to write into; once the block succeeds each file moves into
    `out` (an atomic rename each, same file system), and on an error the scratch goes: `out` then
    holds the previous scoring's files or nothing, never some of this one's."""
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        yield scratch
        out.mkdir(exist_ok=True)
        for path in sorted(scratch.iterdir()):
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
