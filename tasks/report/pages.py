"""The report's pages: the numbers of `data` and the charts of `charts` through Jinja2 templates.

Every page is static HTML with its CSS and SVG inline, so the folder opens from `file://`
on a machine with no network and prints as it shows. Autoescape is on: a city or file name
is text, never markup.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tasks.engine.correlation import square
from tasks.report import charts
from tasks.report.data import (
    EditionData,
    ReportData,
    city_facts,
    framework_rows,
    manifest_changes,
    moves,
    overview,
    quality,
)

TEMPLATES = Path(__file__).with_name("templates")
PAGES = (
    ("index.html", "Overview"), ("framework.html", "Framework"), ("indicators.html", "Indicators"),
    ("changes.html", "What changed"), ("robustness.html", "Robustness"), ("quality.html", "Data quality"),
)  # fmt: skip
# Pages only an edition has: another edition to compare with, and a run's checks.
EDITION_PAGES = ("changes.html", "quality.html")


def number(value: Any, digits: int = 4) -> str:
    """A number for a table cell: fixed decimals, a dash when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    return f"{float(value):,.{digits}f}"


def signed(value: Any, digits: int = 2) -> str:
    text = number(value, digits)
    return text if text == "–" or text.startswith("-") else f"+{text}"


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    env.filters["num"] = number
    env.filters["signed"] = signed
    return env


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def build_report(data: ReportData, out: Path, data_docs: str | None = None,
                 workers: Executor | None = None) -> Path:  # fmt: skip
    """Write every page of `data.current`'s report into `out`; returns its `index.html`.

    `data_docs` is the link to the run's Data Docs as the pages should write it (relative
    to `out`, or a file URI), None when there are none. With `workers`, the city pages (about
    half the work: a profile and a rank history each) are drawn there while this process
    draws the others; the pages are the same bytes either way.
    """
    pages = _Pages(data, out)
    cities = workers.submit(_city_pages, data, out) if workers is not None else None
    cur, names, dims, root, table = data.current, pages.names, data.dimensions, data.root, pages.table
    contrib = cur["contributions"].pivot(index="city_code", columns="node", values="contribution")
    index = table[root]
    chart = charts.contributions(contrib.loc[table.index, dims], pages.labels, names, pages.palette)
    pages.write("overview.html", "index.html", rows=table, top_n=data.top_n,
                top=table.index[0], top_mean=index.nlargest(data.top_n).mean(), chart=chart)  # fmt: skip
    pages.write("framework.html", "framework.html", tree=framework_rows(data))
    pages.write("indicators.html", "indicators.html", **_indicators(data, names, pages.palette))
    if pages.edition:
        changed = moves(data)
        prev = data.previous
        chart = (
            charts.contribution_changes(changed, pages.labels, names, pages.palette) if len(changed) else ""
        )
        diff = manifest_changes(prev.manifest, cur.manifest) if prev else None
        pages.write("changes.html", "changes.html", moves=changed, diff=diff, chart=chart)
        pages.write("quality.html", "quality.html", q=quality(data), data_docs=data_docs)
    unc, sens = cur["uncertainty"], cur["sensitivity"]
    pages.write("robustness.html", "robustness.html", uncertainty=unc, sensitivity=sens,
                unc_chart=charts.uncertainty(unc, pages.labels) if len(unc) else "",
                sens_chart=charts.sensitivity(sens) if len(sens) else "")  # fmt: skip
    if cities is None:
        _city_pages(data, out, pages)
    else:
        cities.result()
    return out / "index.html"


class _Pages:
    """What every page of one report shares: its templates, names, colours and navigation."""

    def __init__(self, data: ReportData, out: Path) -> None:
        cur, subject = data.current, data.subject
        self.env, self.out = environment(), out
        self.names, self.palette = data.names(), charts.colours(data.dimensions)
        self.labels = {c: data.city(c)["en"] for c in cur.index().index}
        self.table = overview(data)
        self.edition = subject.kind == "edition"
        pages = [p for p in PAGES if self.edition or p[0] not in EDITION_PAGES]
        self.base = {"edition": cur.edition, "pages": pages, "names": self.names, "dims": data.dimensions,
                     "root": data.root, "palette": self.palette,
                     "previous": data.previous.edition if data.previous else None,
                     "city": data.city, "manifest": cur.manifest, "subject": subject}  # fmt: skip

    def write(self, template: str, target: str, depth: int = 0, **context: Any) -> None:
        html = self.env.get_template(template).render(
            **self.base, up="../" * depth, current=target, **context
        )
        _write(self.out / target, html)


def _city_pages(data: ReportData, out: Path, pages: _Pages | None = None) -> None:
    """A page per city: its facts, its profile against the median and best, its rank history
    (`pages`: the report's, when drawn in the same process; a worker makes its own)."""
    pages = pages or _Pages(data, out)
    profiles = None  # one figure for every city's profile: only the bars change
    for code in pages.table.index:
        facts = city_facts(data, code)
        label = pages.labels[code]
        profiles = profiles or charts.Profiles(
            facts["profile"], pages.names, pages.palette, data.subject.unit
        )
        # A rank history of one edition is one point: its table says it, a chart would not (and
        # 30 of them cost a second).
        history = facts["history"]
        history_chart = charts.rank_history(history, label, len(pages.table)) if len(history) > 1 else ""
        pages.write("city.html", data.city(code)["href"], depth=1, code=code, facts=facts,
                    row=pages.table.loc[code], profile_chart=profiles(facts["profile"], label),
                    history_chart=history_chart)  # fmt: skip


def _indicators(data: ReportData, names: dict[str, str], palette: dict[str, str]) -> dict[str, Any]:
    cur = data.current
    scores = cur["scores"]
    indicators = scores.loc[scores["level"] == 1, "node"].drop_duplicates().tolist()
    parents = data.dimension_of()
    units = data.framework.set_index("code")["unit"].to_dict() if "unit" in data.framework else {}
    raw = scores[scores["level"] == 1].pivot(index="city_code", columns="node", values="raw_value")
    normalised = cur.wide()[indicators]
    dist = charts.distributions(raw[indicators], normalised, names, units, palette, parents)
    corr = cur["correlations"]
    nodes = [data.root, *data.dimensions, *indicators]
    flags = corr[corr["flag"].fillna("") != ""] if len(corr) else corr
    heatmaps = {
        m: charts.heatmap(square(corr, m, nodes), [names.get(n, n) for n in nodes],
                          f"{m.title()} correlation of indicators, dimensions and index", f"corr-{m}",
                          list(zip(flags.loc[flags["measure"] == m, "node_1"],
                                   flags.loc[flags["measure"] == m, "node_2"], strict=True)))
        for m in ("pearson", "spearman")
    } if len(corr) else {}  # fmt: skip
    alpha = corr[corr["measure"] == "cronbach_alpha"] if len(corr) else corr
    return {"dist_chart": dist, "heatmaps": heatmaps, "flags": flags, "alpha": alpha,
            "treatment": cur["treatment"], "units": units}  # fmt: skip


def build_index(editions: list[EditionData], cities: pd.DataFrame, out: Path,
                links: dict[int, str]) -> Path:  # fmt: skip
    """`out/index.html`: every published edition, linked, and the rank history across them."""
    names = cities.set_index("city_code")
    ranks = pd.DataFrame({e.edition: e.index()["rank"] for e in editions}).sort_index(axis=1)
    latest = ranks.columns.max() if len(ranks.columns) else None
    if latest is not None:
        ranks = ranks.sort_values(latest)
    labels = {c: str(names.at[c, "name_en"]) if c in names.index else c for c in ranks.index}
    chart = charts.bump(ranks, labels) if len(ranks.columns) else ""
    newest_first = sorted(editions, key=lambda e: e.edition, reverse=True)
    template = environment().get_template("editions.html")
    html = template.render(editions=newest_first, links=links, ranks=ranks, names=names, chart=chart)
    target = out / "index.html"
    out.mkdir(parents=True, exist_ok=True)
    temporary = out / ".index.html.tmp"
    temporary.write_text(html, encoding="utf-8")
    os.replace(temporary, target)
    return target
