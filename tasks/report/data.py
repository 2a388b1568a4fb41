"""The report's numbers: published edition folders read into the tables its pages show.

Everything here is a pure function of the edition folders, their manifests, the framework
table and the city names, so a report can be rebuilt from a warehouse alone, and the step
that writes it into a staged edition reads the same files a reader will.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

# The tables the report reads from an edition folder (trade_facts is too big and not needed).
TABLES = (
    "scores", "contributions", "uncertainty", "sensitivity", "treatment", "strengths", "validation",
    "quarantine", "city_trade", "indicator_values", "screening", "correlations",
)  # fmt: skip


@dataclass(frozen=True)
class EditionData:
    """One edition's tables and manifest; a table the edition does not have is empty."""

    edition: int
    folder: Path
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(repr=False)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def index(self) -> pd.DataFrame:
        """The index rows of `scores`, by city code."""
        scores = self.tables["scores"]
        return scores[scores["level"] == scores["level"].max()].set_index("city_code")

    def wide(self, column: str = "score") -> pd.DataFrame:
        """Cities × nodes of `scores` (`score` or `rank`)."""
        return self.tables["scores"].pivot(index="city_code", columns="node", values=column)


def read_edition(folder: Path, manifest: dict[str, Any] | None = None) -> EditionData:
    """An edition folder (published, or staged with its manifest given) read for the report."""
    if manifest is None:
        manifest = json.loads((folder / "manifest.json").read_text())
    tables = {
        name: pd.read_parquet(path) if (path := folder / f"{name}.parquet").exists() else pd.DataFrame()
        for name in TABLES
    }
    return EditionData(int(manifest["edition"]), folder, manifest, tables)


@dataclass(frozen=True)
class Subject:
    """What the report is about: its title and what its units are called; an `edition` has
    trade facts, earlier editions and a run's checks, an `index` from `coopindex score` has not."""

    title: str = "China–CEEC city cooperation index"
    unit: str = "city"
    units: str = "cities"
    kind: str = "edition"


@dataclass(frozen=True)
class ReportData:
    """The edition reported, the other published editions, and what names things."""

    current: EditionData
    others: tuple[EditionData, ...]
    framework: pd.DataFrame  # code, name, parent, level, weight
    cities: pd.DataFrame  # city_code, name_en, name_zh
    top_n: int
    subject: Subject = Subject()

    @property
    def previous(self) -> EditionData | None:
        """The latest published edition of an earlier data year: what "change" is against."""
        earlier = [e for e in self.others if e.edition < self.current.edition]
        return max(earlier, key=lambda e: e.edition) if earlier else None

    @property
    def history(self) -> list[EditionData]:
        """Every edition, this one included, oldest first."""
        return sorted([*self.others, self.current], key=lambda e: e.edition)

    @property
    def dimensions(self) -> list[str]:
        root = self.framework.loc[self.framework["parent"] == "", "code"].iloc[0]
        return self.framework.loc[self.framework["parent"] == root, "code"].tolist()

    @property
    def root(self) -> str:
        return str(self.framework.loc[self.framework["parent"] == "", "code"].iloc[0])

    def dimension_of(self) -> dict[str, str]:
        """Each node's dimension (its ancestor just below the index): what colours it."""
        parent = dict(zip(self.framework["code"], self.framework["parent"], strict=True))
        dims, out = set(self.dimensions), {}
        for code in parent:
            node = code
            while node and node not in dims:
                node = parent.get(node, "")
            out[code] = node
        return out

    def names(self) -> dict[str, str]:
        return dict(zip(self.framework["code"], self.framework["name"], strict=True))

    def city(self, code: str) -> dict[str, str]:
        """English and Chinese name of a city (the Chinese one may be empty)."""
        row = self.cities.set_index("city_code").reindex([code]).iloc[0]
        en = row.get("name_en")
        zh = row.get("name_zh")
        return {"code": code, "en": en if isinstance(en, str) and en else code,
                "zh": zh if isinstance(zh, str) else "",
                "href": f"{self.subject.units}/{code}.html"}  # fmt: skip


def overview(data: ReportData) -> pd.DataFrame:
    """Every scored city: rank, index, the dimensions, its rank interval and its rank move."""
    cur = data.current
    wide = cur.wide()[[data.root, *data.dimensions]]
    table = cur.index()[["rank"]].join(wide)
    unc = cur["uncertainty"]
    if len(unc):
        table = table.join(unc.set_index("city_code")[["q05", "q95", "median_rank"]])
    prev = data.previous
    if prev is not None:
        table["rank_prev"] = prev.index()["rank"].reindex(table.index).astype("Int64")
        table["move"] = table["rank_prev"] - table["rank"]
    return table.sort_values(["rank", data.root], ascending=[True, False]).rename_axis("city_code")


def framework_rows(data: ReportData) -> list[dict[str, Any]]:
    """The indicator tree in depth-first order with nominal, relative and effective weights."""
    table = data.framework.set_index("code")
    weights = data.current["scores"].drop_duplicates("node").set_index("node")["weight_in_index"]
    sums = table.groupby("parent")["weight"].transform("sum")
    rows: list[dict[str, Any]] = []

    def visit(code: str, depth: int) -> None:
        rows.append({"code": code, "name": table.at[code, "name"], "depth": depth,
                     "level": int(table.at[code, "level"]), "nominal": float(table.at[code, "weight"]),
                     "relative": float(table.at[code, "weight"] / sums[code]),
                     "effective": float(weights.get(code, float("nan")))})  # fmt: skip
        for child in table.index[table["parent"] == code]:
            visit(child, depth + 1)

    visit(data.root, 0)
    return rows


def city_facts(data: ReportData, code: str) -> dict[str, Any]:
    """One city's page: dimensions against the median and the best, strengths, trade and ranks."""
    cur, names = data.current, data.names()
    wide = cur.wide()
    dims = [data.root, *data.dimensions]
    profile = pd.DataFrame({"city": wide.loc[code, dims], "median": wide[dims].median(),
                            "best": wide[dims].max()})  # fmt: skip
    strengths = cur["strengths"]
    mine = strengths[strengths["city_code"] == code].assign(name=lambda d: d["node"].map(names))
    trade = []
    history = []
    for ed in data.history:
        ct = ed["city_trade"].set_index("city_code") if len(ed["city_trade"]) else pd.DataFrame()
        if code in ct.index:
            row = ct.loc[code]
            trade.append({"edition": ed.edition, "trade_bn_cny": row["trade_bn_cny"],
                          "growth_pct": row["trade_growth_pct"], "share_pct": row["trade_share_pct"],
                          "import_ratio": row["import_growth_ratio"], "base_year": row["base_year"],
                          "partners": row["partner_countries"]})  # fmt: skip
        index = ed.index()
        if code in index.index:
            unc = ed["uncertainty"].set_index("city_code") if len(ed["uncertainty"]) else None
            has = unc is not None and code in unc.index
            history.append({"edition": ed.edition, "rank": int(index.at[code, "rank"]),
                            "score": float(index.at[code, "score"]),
                            "q05": float(unc.at[code, "q05"]) if has else None,
                            "q95": float(unc.at[code, "q95"]) if has else None})  # fmt: skip
    return {"profile": profile, "strengths": mine[mine["kind"] == "strength"],
            "weaknesses": mine[mine["kind"] == "weakness"], "trade": trade, "history": history}  # fmt: skip


def moves(data: ReportData) -> pd.DataFrame:
    """Each city in both editions: rank and score moves and every dimension's contribution change.

    `drivers` lists (dimension, contribution change, score before, score after), largest
    change first, so the page can say which dimension moved the city and how.
    """
    prev = data.previous
    if prev is None:
        return pd.DataFrame()
    before, after = prev.index(), data.current.index()
    common = after.index.intersection(before.index)
    out = pd.DataFrame({"rank_before": before.loc[common, "rank"], "rank_after": after.loc[common, "rank"],
                        "score_before": before.loc[common, "score"],
                        "score_after": after.loc[common, "score"]})  # fmt: skip
    out["move"] = out["rank_before"] - out["rank_after"]
    out["score_change"] = out["score_after"] - out["score_before"]

    def contrib(ed: EditionData) -> pd.DataFrame:
        return ed["contributions"].pivot(index="city_code", columns="node", values="contribution")

    delta = (contrib(data.current) - contrib(prev)).reindex(index=common, columns=data.dimensions)
    out = out.join(delta)
    was, now = prev.wide(), data.current.wide()
    out["drivers"] = [
        [(d, float(delta.at[c, d]), float(was.at[c, d]), float(now.at[c, d]))
         for d in delta.loc[c].abs().sort_values(ascending=False).index]
        for c in common
    ]  # fmt: skip
    order = out["move"].abs().sort_values(ascending=False, kind="stable").index
    return out.loc[order].rename_axis("city_code")


def manifest_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs between two editions' manifests: method, inputs, suites, code, packages."""

    def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[str]]:
        return {"added": sorted(set(b) - set(a)), "removed": sorted(set(a) - set(b)),
                "changed": sorted(k for k in set(a) & set(b) if a[k] != b[k])}  # fmt: skip

    packages = {k: (before.get("packages", {}).get(k), v) for k, v in after.get("packages", {}).items()
                if before.get("packages", {}).get(k) != v}  # fmt: skip
    return {
        "method": (before.get("method"), after.get("method")),
        "method_changed": before.get("method") != after.get("method"),
        "inputs": diff(before.get("inputs", {}), after.get("inputs", {})),
        "expectations": diff(before.get("expectations", {}), after.get("expectations", {})),
        "git": (before.get("git_commit"), after.get("git_commit")),
        "packages": packages,
    }


def quality(data: ReportData) -> dict[str, Any]:
    """The checks the edition ran, what failed, and the rows it set aside."""
    validation = data.current["validation"]
    failed = validation[~validation["success"]] if len(validation) else validation
    summary = (
        validation.groupby("dataset", sort=False)
        .agg(checks=("success", "size"), failed=("success", lambda s: int((~s).sum())))
        .reset_index()
        if len(validation)
        else pd.DataFrame(columns=["dataset", "checks", "failed"])
    )
    return {"summary": summary, "failed": failed, "quarantine": data.current["quarantine"],
            "validation": data.current.manifest.get("validation", {})}  # fmt: skip
