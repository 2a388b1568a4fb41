"""The indicator framework: a table of nodes (indicators, dimensions, the index) and weights.

The table is data, read from `config/framework.csv`; this module checks that it is a tree
that can be aggregated and answers the questions the method steps ask of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

# Optional per-indicator columns that tune a method step for one indicator.
SETTING_COLUMNS = ("denominator", "normalise", "goalpost_low", "goalpost_high", "goalpost_cap",
                   "goalpost_scale", "transform", "target", "target_cap", "reference", "treat",
                   "aggregate")  # fmt: skip


class FrameworkError(ValueError):
    """The framework table is not a well-formed tree; the message names the offending codes."""


@dataclass(frozen=True)
class Framework:
    """A checked framework table with `code, name, parent, level, weight, direction, unit, origin`."""

    table: pd.DataFrame

    @classmethod
    def from_table(cls, table: pd.DataFrame, label: str = "framework") -> Framework:
        table = table.reset_index(drop=True)
        table["parent"] = table["parent"].fillna("").astype("str")
        for column in ("origin", "unit", "name"):
            if column in table:
                table[column] = table[column].fillna("").astype("str")
        _check(table, label)
        return cls(table.reset_index(drop=True))

    @cached_property
    def root(self) -> str:
        return str(self.table.loc[self.table["parent"] == "", "code"].iloc[0])

    @cached_property
    def indicators(self) -> list[str]:
        """Level-1 codes in table order: the columns of every indicator-level stage."""
        return self.table.loc[self.table["level"] == 1, "code"].tolist()

    @property
    def levels(self) -> list[int]:
        return sorted(self.table["level"].unique())

    def nodes(self, level: int) -> list[str]:
        return self.table.loc[self.table["level"] == level, "code"].tolist()

    def children(self, code: str) -> pd.DataFrame:
        return self.table[self.table["parent"] == code]

    def column(self, name: str) -> pd.Series:
        """A framework column indexed by code (e.g. `direction`, `weight`)."""
        return self.table.set_index("code")[name]

    def by_origin(self, origin: str) -> list[str]:
        """Indicator codes read from `raw/indicators` ("indicators") or derived ("trade")."""
        rows = self.table[(self.table["level"] == 1) & (self.table["origin"] == origin)]
        return rows["code"].tolist()

    def settings(self) -> pd.DataFrame:
        """Per-indicator method settings the table carries (`normalise`, goalposts ...), by code.

        Empty cells are missing: the method file's default applies to that indicator.
        """
        present = [c for c in SETTING_COLUMNS if c in self.table.columns]
        table = self.table.set_index("code").loc[self.indicators, present]
        return table.replace("", np.nan)

    def relative_weights(self, weights: pd.Series | None = None) -> pd.Series:
        """Each node's weight (by code; default the table's) divided by the sum of its siblings'."""
        parent = self.column("parent")
        given = self.column("weight") if weights is None else weights
        given = given.reindex(parent.index).astype("float64")
        return given / given.groupby(parent).transform("sum")

    def effective_weights(self, weights: pd.Series | None = None) -> pd.Series:
        """Each node's share of the index: the product of its relative weights up the tree, root 1.

        `weights` (by code; default the table's) are renormalised within each parent first.
        """
        relative = self.relative_weights(weights)
        parent = self.column("parent")
        out = pd.Series(1.0, index=parent.index)
        for level in sorted(self.levels, reverse=True)[1:]:  # top down, below the root
            codes = self.nodes(level)
            out[codes] = relative[codes].to_numpy() * out[parent[codes]].to_numpy()
        return out.rename("effective_weight")


def _check(table: pd.DataFrame, label: str) -> None:
    codes = table["code"]
    problems: list[tuple[str, pd.Series]] = []  # what is wrong, and the rows that show it
    duplicated = codes.duplicated(keep=False)
    if duplicated.any():
        problems.append((f"duplicate codes {sorted(codes[duplicated].unique())}", duplicated))
    is_root = table["parent"] == ""
    roots = table.loc[is_root, "code"].tolist()
    if len(roots) != 1:
        problems.append((f"exactly one root (a row without parent) expected, found {roots}", is_root))
    orphan = (table["parent"] != "") & ~table["parent"].isin(codes)
    if orphan.any():
        problems.append((f"parents that are not codes: {sorted(set(table.loc[orphan, 'parent']))}", orphan))
    light = table["weight"] <= 0
    if light.any():
        problems.append((f"weights must be positive: {table.loc[light, 'code'].tolist()}", light))
    sideways = ~table["direction"].isin([1, -1])
    if sideways.any():
        problems.append((f"direction must be 1 or -1: {table.loc[sideways, 'code'].tolist()}", sideways))
    level_of = table.drop_duplicates("code").set_index("code")["level"]
    childless = (table["level"] > 1) & ~table["code"].isin(table["parent"])
    if childless.any():
        problems.append((f"aggregates without children: {sorted(table.loc[childless, 'code'])}", childless))
    wrong = pd.Series(
        [
            bool(p) and p in level_of and level_of[p] <= level_of[c]
            for c, p in zip(codes, table["parent"], strict=True)
        ],
        index=table.index,
    )
    if wrong.any():
        problems.append(
            (f"nodes whose parent is not on a higher level: {table.loc[wrong, 'code'].tolist()}", wrong)
        )
    if problems:
        raise FrameworkError(_located(table, label, problems))


def _located(table: pd.DataFrame, label: str, problems: list[tuple[str, pd.Series]]) -> str:
    """The problems with the file and lines of their rows, when the table says where it came from
    (the loader's `source_file` and `source_line`), so that a person knows which rows to fix."""
    if "source_line" not in table or "source_file" not in table or table.empty:
        return f"{label}: " + "; ".join(text for text, _ in problems)
    parts, first = [], None
    for text, rows in problems:
        lines = sorted(int(n) for n in table.loc[rows, "source_line"])
        first = first or (lines[0] if lines else None)
        shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
        parts.append(f"{text} (line{'s' if len(lines) > 1 else ''} {shown})" if lines else text)
    where = str(table["source_file"].iloc[0]) + (f", line {first}" if first else "")
    return f"{where}: " + "; ".join(parts) + ": fix the framework table and run again"
