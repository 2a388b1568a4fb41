"""What a run read and how: checksums of inputs, versions of code and method, for the manifest.

The manifest makes an edition reproducible and lets a rerun tell whether anything changed.
Data files never hold timestamps; run metadata lives here.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

from tasks.warehouse.catalog import PROJECT_ROOT

PACKAGES = ("prefect", "great-expectations", "pandas", "pyarrow", "duckdb")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums(paths: Iterable[Path], relative_to: Path) -> dict[str, str]:
    """`{path relative to the project: sha256}` in path order."""
    return {_relative(p, relative_to): sha256(p) for p in sorted(paths)}


def git_commit() -> str | None:
    """The commit of the code that ran, with `+dirty` when the work tree differs; None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    return {name: version(name) for name in PACKAGES}


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
