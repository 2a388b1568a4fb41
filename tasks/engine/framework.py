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
SETTING_COLUMNS = ("denominator", "normalise", "goalpost_low", "goalpost_high", "goalpost_cap", "transform",
                   "target", "target_cap", "reference", "treat", "aggregate")  # fmt: skip


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
    problems = []
    duplicated = sorted(codes[codes.duplicated()].unique())
    if duplicated:
        problems.append(f"duplicate codes {duplicated}")
    roots = table.loc[table["parent"] == "", "code"].tolist()
    if len(roots) != 1:
        problems.append(f"exactly one root (a row without parent) expected, found {roots}")
    orphans = sorted(set(table.loc[table["parent"] != "", "parent"]) - set(codes))
    if orphans:
        problems.append(f"parents that are not codes: {orphans}")
    if (table["weight"] <= 0).any():
        problems.append(f"weights must be positive: {table.loc[table['weight'] <= 0, 'code'].tolist()}")
    if not table["direction"].isin([1, -1]).all():
        problems.append(
            f"direction must be 1 or -1: {table.loc[~table['direction'].isin([1, -1]), 'code'].tolist()}"
        )
    level_of = table.drop_duplicates("code").set_index("code")["level"]
    childless = sorted(set(table.loc[table["level"] > 1, "code"]) - set(table["parent"]))
    if childless:
        problems.append(f"aggregates without children: {childless}")
    wrong_level = [
        code
        for code, parent in zip(table["code"], table["parent"], strict=True)
        if parent and parent in level_of and level_of[parent] <= level_of[code]
    ]
    if wrong_level:
        problems.append(f"nodes whose parent is not on a higher level: {wrong_level}")
    if problems:
        raise FrameworkError(f"{label}: " + "; ".join(problems))
