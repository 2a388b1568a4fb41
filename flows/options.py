"""Command-line options shared by every `coopindex` command that reads raw data or a warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RawDir = Annotated[Path | None, typer.Option("--raw", help="Raw inputs folder (default: raw/).")]
WarehouseDir = Annotated[
    Path | None, typer.Option("--warehouse", help="Warehouse folder (default: warehouse/).")
]
ConfigDir = Annotated[
    Path | None,
    typer.Option("--config", help="Folder with framework.csv and method.yaml (default: config/)."),
]


def path_text(path: Path | None) -> str | None:
    """A folder option as the flows take it: a string, or None for the project default."""
    return str(path) if path else None
