"""`make sample` writes the shipped raw/ byte for byte: a small sample here, the whole one when slow.

The small sample (2 % of the trade grid, indicators as drawn, no calibration) runs every piece
of the generator but the calibration's some 180 scorings; its digest changes with any change to
what the generator writes. When it changes on purpose, regenerate raw/ (`make sample`), check
`git diff raw/`, and put the new digest here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tasks.warehouse.catalog import PROJECT_ROOT

SMALL = {"scale": 0.02, "calibrated": False}
SMALL_DIGEST = "46dc0d45a0de99d171ae01a0fe9134c0de6891aafe9254851d19042662170ca7"
NOT_GENERATED = {"README.md"}


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """scripts/generate_sample.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "generate_sample", PROJECT_ROOT / "scripts" / "generate_sample.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def tree_digest(root: Path) -> str:
    """SHA-256 over every file's relative path and content, in path order."""
    digest = hashlib.sha256()
    for name in files(root):
        digest.update(name.encode() + b"\0" + hashlib.sha256((root / name).read_bytes()).digest())
    return digest.hexdigest()


def test_a_small_sample_is_the_same_bytes_every_time(generator, tmp_path):
    """The committed digest is of an earlier run: matching it is being the same bytes again."""
    first = generator.generate(tmp_path / "first", generator.SEED, **SMALL)
    assert tree_digest(tmp_path / "first") == SMALL_DIGEST
    trade = [f for f in files(tmp_path / "first") if f.startswith("trade/")]
    assert sum(len((tmp_path / "first" / f).read_bytes().splitlines()) - 1 for f in trade) == first.rows
    # Thinning the records keeps each city's totals: Ningbo's published figures, scored as an edition.
    ningbo = first.facts.set_index("city_code").loc["NGB"]
    assert round(ningbo["trade_bn_cny"], 2) == 24.36
    assert round(ningbo["trade_growth_pct"], 1) == 23.1
    assert ningbo["import_growth_ratio"] > 2
    assert first.index.notna().all() and len(first.index) == 30


@pytest.mark.slow
def test_the_generator_writes_the_shipped_sample(generator, tmp_path):
    sample = generator.generate(tmp_path / "raw")
    shipped = PROJECT_ROOT / "raw"
    expected = [f for f in files(shipped) if f not in NOT_GENERATED]
    assert files(tmp_path / "raw") == expected
    differ = [f for f in expected if (tmp_path / "raw" / f).read_bytes() != (shipped / f).read_bytes()]
    assert not differ, f"{len(differ)} files differ from raw/, e.g. {differ[:3]}"
    assert round(sample.index["NGB"], 4) == 69.3453
