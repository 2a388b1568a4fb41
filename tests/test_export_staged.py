"""`coopindex score --out`: a scoring that fails half-way leaves none of its files in --out."""

from __future__ import annotations

import pytest

from tasks.engine.export import staged_folder


def test_files_reach_out_only_when_everything_is_written(tmp_path):
    out = tmp_path / "scored"
    out.mkdir()
    (out / "scores.parquet").write_text("previous scoring")
    with pytest.raises(RuntimeError, match="audit failed"), staged_folder(out) as scratch:
        (scratch / "scores.parquet").write_text("this scoring")
        (scratch / "raw.parquet").write_text("this scoring")
        raise RuntimeError("audit failed")
    assert sorted(p.name for p in out.iterdir()) == ["scores.parquet"]
    assert (out / "scores.parquet").read_text() == "previous scoring"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scored"]  # no scratch left behind

    with staged_folder(out) as scratch:
        (scratch / "scores.parquet").write_text("this scoring")
        (scratch / "raw.parquet").write_text("this scoring")
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "scores.parquet": "this scoring",
        "raw.parquet": "this scoring",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scored"]


def test_a_new_out_folder_is_made_only_on_success(tmp_path):
    out = tmp_path / "deep" / "scored"
    with pytest.raises(ValueError), staged_folder(out) as scratch:
        (scratch / "results.csv").write_text("x")
        raise ValueError("bad method")
    assert not out.exists()
    with staged_folder(out) as scratch:
        (scratch / "results.csv").write_text("x")
    assert (out / "results.csv").read_text() == "x"
