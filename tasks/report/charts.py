"""The report's charts as inline SVG from matplotlib's SVG backend.

Offline and deterministic (a fixed hash salt per chart, no date), text kept as text so a
reader can search and copy it, one colour per dimension on every chart. Labels are ASCII
(English names, codes): matplotlib measures text with its own fonts, which have no CJK glyphs.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

# Okabe-Ito: distinguishable with colour-blindness, and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
GREY = "#8c8c8c"
STYLE = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}


def colours(dimensions: Sequence[str]) -> dict[str, str]:
    """The colour of each dimension, by framework order: the same on every page."""
    return {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(dimensions)}


def to_svg(fig: Figure, salt: str, label: str) -> str:
    """The figure as an `<svg>` element to inline (no XML prolog), with an accessible label."""
    buffer = io.StringIO()
    with mpl.rc_context(STYLE | {"svg.hashsalt": salt}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    svg = text[text.index("<svg") :]
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" class="chart" ', 1)


def _figure(width: float, height: float, margins: Mapping[str, float] | None = None) -> Figure:
    """A figure laid out by constrained layout, or by fixed `margins` (much faster: charts
    whose labels are known, their margins from `_label_inches`)."""
    with mpl.rc_context(STYLE):
        if margins is None:
            return Figure(figsize=(width, height), layout="constrained")
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(**margins)
        return fig


def _rows_figure(width: float, labels: Sequence[str]) -> Figure:
    """A figure of one row per city, labelled on the left, its margins fixed from the longest
    label (9 pt) instead of found by constrained layout, which is most of such a chart's cost."""
    height = 0.6 + 0.24 * len(labels)
    left = _label_inches(labels, 9) + 0.15
    return _figure(width, height, {"left": left / width, "right": 0.98, "top": 1 - 0.12 / height,
                                   "bottom": 0.48 / height})  # fmt: skip


def contributions(
    table: pd.DataFrame, labels: Mapping[str, str], names: Mapping[str, str], palette: Mapping[str, str]
) -> str:
    """Each city's index as stacked dimension contributions, best first (rows: cities)."""
    with mpl.rc_context(STYLE):
        fig = _rows_figure(8, [labels[c] for c in table.index])
        ax = fig.add_subplot()
        y = np.arange(len(table))
        left = np.zeros(len(table))
        for dim in table.columns:
            values = table[dim].fillna(0).to_numpy()
            ax.barh(y, values, left=left, color=palette[dim], label=names[dim], height=0.75)
            left += values
        ax.set_yticks(y, [labels[c] for c in table.index])
        ax.invert_yaxis()
        ax.set_xlabel("index points (contributions sum to the index)")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
        return to_svg(fig, "contributions", "Stacked dimension contributions per city")


def profile(
    frame: pd.DataFrame, names: Mapping[str, str], palette: Mapping[str, str], city: str, unit: str = "city"
) -> str:
    """A city's (unit's) index and dimension scores against the median and the best one."""
    return Profiles(frame, names, palette, unit)(frame, city)


class Profiles:
    """Every city's `profile` chart drawn on one figure: the axes, the median and best markers
    and the labels are the same on every city page, so a city changes only its bars' lengths
    and its legend entry. The same SVG as a figure of its own, at a fraction of the cost."""

    def __init__(
        self, frame: pd.DataFrame, names: Mapping[str, str], palette: Mapping[str, str], unit: str = "city"
    ) -> None:
        self.nodes, self.reference = list(frame.index), frame[["median", "best"]].copy()
        colour = [palette.get(n, "#333333") for n in frame.index]
        with mpl.rc_context(STYLE):
            self.fig = _figure(6.5, 3.1, {"left": 0.36, "right": 0.98, "top": 0.97, "bottom": 0.27})
            ax = self.ax = self.fig.add_subplot()
            y = np.arange(len(frame))
            self.bars = ax.barh(y, frame["city"].fillna(0), color=colour, height=0.6)
            self.marks = [
                ax.scatter(frame["median"], y, marker="|", s=260, color="black", label=f"median {unit}",
                           zorder=3),
                ax.scatter(frame["best"], y, marker="D", s=22, color=GREY, label=f"best {unit}", zorder=3),
            ]  # fmt: skip
            ax.set_yticks(y, [names[n] for n in frame.index])
            ax.invert_yaxis()
            ax.set_xlim(0, 105)
            ax.set_xlabel("score (0-100)")

    def __call__(self, frame: pd.DataFrame, city: str) -> str:
        if list(frame.index) != self.nodes or not frame[["median", "best"]].equals(self.reference):
            raise ValueError("a profile of other nodes or other medians needs a figure of its own")
        with mpl.rc_context(STYLE):
            for bar, value in zip(self.bars.patches, frame["city"].fillna(0), strict=True):
                bar.set_width(value)
            self.bars.set_label(city)
            # The order a legend of its own finds them in: collections, then containers.
            self.ax.legend(handles=[*self.marks, self.bars], loc="upper center", bbox_to_anchor=(0.4, -0.2),
                           ncol=3, frameon=False, fontsize=8)  # fmt: skip
            label = f"Dimension scores of {city} against the median and best"
            return to_svg(self.fig, f"profile-{city}", label)


def rank_history(history: Sequence[Mapping[str, float | None]], city: str, cities: int) -> str:
    """A city's rank edition by edition, with its 90 % rank interval where there is one."""
    with mpl.rc_context(STYLE):
        fig = _figure(4.2, 2.6, {"left": 0.2, "right": 0.95, "top": 0.95, "bottom": 0.12})
        ax = fig.add_subplot()
        editions = [h["edition"] for h in history]
        ranks = [h["rank"] for h in history]
        for h in history:
            if h["q05"] is not None:
                ax.vlines(h["edition"], h["q05"], h["q95"], color=GREY, linewidth=6, alpha=0.5)
        ax.plot(editions, ranks, marker="o", color=PALETTE[0])
        for e, r in zip(editions, ranks, strict=True):
            ax.annotate(str(r), (e, r), textcoords="offset points", xytext=(7, 0), va="center")
        ax.set_xticks(editions, [str(e) for e in editions])
        ax.set_xlim(min(editions) - 0.6, max(editions) + 0.6)
        ax.set_ylim(cities + 0.5, 0.5)
        ax.set_ylabel("rank (grey: 90 % interval)")
        return to_svg(fig, f"history-{city}", f"Rank history of {city}")


def distributions(raw: pd.DataFrame, normalised: pd.DataFrame, names: Mapping[str, str],
                  units: Mapping[str, str], palette: Mapping[str, str],
                  parents: Mapping[str, str]) -> str:  # fmt: skip
    """Each indicator's values across cities, one row each: as read (left, each row from its
    lowest to its highest value, both printed) and normalised 0-100 (right). A city keeps its
    height in a row on both sides. Two axes, not one per indicator: 46 axes' ticks cost ~0.5 s."""
    indicators = list(raw.columns)
    height = 0.4 * len(indicators) + 0.8
    left = min(0.4, 0.03 + _label_inches([names[c] for c in indicators], 7) / 8)
    with mpl.rc_context(STYLE):
        fig = _figure(8, height, {"left": left, "right": 0.98, "top": 1 - 0.35 / height,
                                  "bottom": 0.45 / height, "wspace": 0.06})  # fmt: skip
        as_read, scaled = fig.subplots(1, 2, sharey=True)
        rng = np.random.default_rng(0)
        points: dict[str, list[np.ndarray]] = {"x": [], "y": [], "norm": [], "colour": []}
        for row, code in enumerate(indicators):
            values = raw[code].to_numpy(dtype=float)
            low, high = np.nanmin(values, initial=np.inf), np.nanmax(values, initial=-np.inf)
            points["x"].append((values - low) / ((high - low) or 1))
            points["y"].append(row + rng.uniform(-0.28, 0.28, len(values)))
            points["norm"].append(normalised[code].reindex(raw.index).to_numpy(dtype=float))
            points["colour"].append(np.repeat(palette.get(parents[code], GREY), len(values)))
            for x, value, align in ((-0.03, low, "right"), (1.03, high, "left")):
                if np.isfinite(value):
                    as_read.text(x, row, _value(value), ha=align, va="center", fontsize=6.5, color="#555555")
        y, colour = np.concatenate(points["y"]), np.concatenate(points["colour"])
        for ax, x in ((as_read, np.concatenate(points["x"])), (scaled, np.concatenate(points["norm"]))):
            seen = np.isfinite(x)
            ax.scatter(x[seen], y[seen], s=9, c=colour[seen], alpha=0.75)
            ax.hlines(np.arange(1, len(indicators)) - 0.5, 0, 1, transform=ax.get_yaxis_transform(),
                      color="#e6e6e6", linewidth=0.6, zorder=0)  # fmt: skip
            ax.spines["left"].set_visible(False)
            ax.tick_params(axis="both", labelsize=7, pad=1, length=2)
        as_read.set_yticks(range(len(indicators)),
                           [f"{names[c]}\n({units.get(c, '')})" for c in indicators])  # fmt: skip
        as_read.set_ylim(len(indicators) - 0.5, -0.5)
        as_read.set_xlim(-0.32, 1.32)
        as_read.set_xticks([])
        as_read.set_xlabel("each row from its lowest to its highest value", fontsize=7)
        as_read.set_title("as read")
        scaled.set_xlim(-5, 105)
        scaled.set_xticks([0, 25, 50, 75, 100])
        scaled.tick_params(axis="y", left=False)
        scaled.set_title("normalised (0-100)")
        return to_svg(fig, "distributions", "Distribution of each indicator, raw and normalised")


def _value(value: float) -> str:
    """A value as read, short: three significant digits, or whole with thousands separated."""
    return f"{value:,.0f}" if abs(value) >= 1_000 else f"{value:.3g}"


def _label_inches(labels: Sequence[str], points: float) -> float:
    """The width of the longest of `labels` at `points`: ~0.55 em a character in DejaVu Sans."""
    return max((len(t) for t in labels), default=10) * points * 0.55 / 72


def heatmap(
    matrix: pd.DataFrame, labels: Sequence[str], title: str, salt: str,
    flagged: Sequence[tuple[str, str]] = (),
) -> str:  # fmt: skip
    """A correlation matrix from -1 (red) to 1 (blue), nodes in framework order; flagged
    pairs (near-duplicate or negative siblings) are ringed."""
    label = _label_inches(labels, 7) + 0.1
    with mpl.rc_context(STYLE):
        # Fixed margins from the longest label: constrained layout costs half the chart here.
        fig = _figure(8.5, 7.5, {"left": label / 8.5, "right": 0.97, "bottom": label / 7.5,
                                 "top": 1 - 0.55 / 7.5})  # fmt: skip
        ax = fig.add_subplot()
        # pcolormesh, not imshow: vector cells, where imshow would embed a PNG.
        image = ax.pcolormesh(matrix.to_numpy(dtype=float), cmap="RdBu", vmin=-1, vmax=1)
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.spines[:].set_visible(False)
        ticks = np.arange(len(labels)) + 0.5
        ax.set_xticks(ticks, labels, rotation=90, fontsize=7)
        ax.set_yticks(ticks, labels, fontsize=7)
        position = {node: i for i, node in enumerate(matrix.index)}
        cells = [(position[a], position[b]) for a, b in flagged if a in position and b in position]
        if cells:
            rows, cols = zip(*cells, strict=True)
            centre = np.array([*cols, *rows]) + 0.5, np.array([*rows, *cols]) + 0.5
            ax.scatter(*centre, s=30, facecolors="none", edgecolors="black",
                       linewidths=1)  # fmt: skip
            title += "\n(rings: flagged pairs)"
        ax.set_title(title)
        bar = fig.colorbar(image, ax=ax, shrink=0.6, label="correlation")
        bar.solids.set_rasterized(False)  # matplotlib rasterises a long colour bar into a PNG
        bar.solids.set_edgecolor("face")
        return to_svg(fig, salt, title)


def uncertainty(table: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """Each city's 90 % rank interval, median and nominal rank (COINr's plot_uncertainty)."""
    table = table.sort_values("nominal_rank")
    with mpl.rc_context(STYLE):
        fig = _rows_figure(8, [labels[c] for c in table["city_code"]])
        ax = fig.add_subplot()
        y = np.arange(len(table))
        ax.hlines(y, table["q05"], table["q95"], color=PALETTE[4], linewidth=5, label="90 % interval")
        ax.scatter(table["median_rank"], y, color=PALETTE[0], s=18, zorder=3, label="median rank")
        nominal = table["nominal_rank"]
        ax.scatter(nominal, y, color=PALETTE[5], marker="D", s=14, zorder=3, label="nominal rank")
        ax.set_yticks(y, [labels[c] for c in table["city_code"]])
        ax.invert_yaxis()
        ax.set_xlabel("rank over the Monte Carlo replications")
        ax.legend(loc="upper right", frameon=False, fontsize=8)
        return to_svg(fig, "uncertainty", "Rank intervals of every city")


def sensitivity(table: pd.DataFrame) -> str:
    """Sobol first-order and total indices of each uncertain choice, with 95 % intervals."""
    with mpl.rc_context(STYLE):
        fig = _figure(6, 2.8)
        ax = fig.add_subplot()
        x = np.arange(len(table))
        ax.bar(x - 0.2, table["S1"], 0.4, yerr=table["S1_conf"], color=PALETTE[0], label="first order S1")
        ax.bar(x + 0.2, table["ST"], 0.4, yerr=table["ST_conf"], color=PALETTE[1], label="total ST")
        ax.set_xticks(x, table["choice"])
        ax.set_ylabel("share of variance of the rank shift")
        ax.legend(frameon=False, fontsize=8)
        return to_svg(fig, "sensitivity", "Sobol sensitivity indices")


def contribution_changes(
    table: pd.DataFrame, labels: Mapping[str, str], names: Mapping[str, str], palette: Mapping[str, str]
) -> str:
    """Each city's score change split into its dimensions' contribution changes (diverging)."""
    table = table.sort_values("score_change")
    dims = [d for d in palette if d in table.columns]
    with mpl.rc_context(STYLE):
        fig = _rows_figure(8, [labels[c] for c in table.index])
        ax = fig.add_subplot()
        y = np.arange(len(table))
        pos, neg = np.zeros(len(table)), np.zeros(len(table))
        for dim in dims:
            values = table[dim].fillna(0).to_numpy()
            base = np.where(values >= 0, pos, neg)
            ax.barh(y, values, left=base, color=palette[dim], label=names[dim], height=0.75)
            pos += np.clip(values, 0, None)
            neg += np.clip(values, None, 0)
        ax.scatter(table["score_change"], y, color="black", s=12, zorder=3, label="index change")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, [labels[c] for c in table.index])
        ax.set_xlabel("change in index points")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
        return to_svg(fig, "changes", "Contribution changes per city")


def bump(ranks: pd.DataFrame, labels: Mapping[str, str]) -> str:
    """Every city's index rank edition by edition (rows: cities, columns: editions)."""
    editions = [int(e) for e in ranks.columns]
    with mpl.rc_context(STYLE):
        fig = _figure(7, 0.6 + 0.2 * len(ranks))
        ax = fig.add_subplot()
        lines = PALETTE[:-1]  # not the yellow: too pale for text on white
        for i, (code, row) in enumerate(ranks.iterrows()):
            colour = lines[i % len(lines)]
            ax.plot(editions, row.to_numpy(dtype=float), marker="o", color=colour, linewidth=1.2)
            last = row.dropna()
            if len(last):
                ax.annotate(labels[code], (int(last.index[-1]), float(last.iloc[-1])), xytext=(6, 0),
                            textcoords="offset points", va="center", fontsize=7, color=colour)  # fmt: skip
        ax.set_xticks(editions, [str(e) for e in editions])
        ax.set_xlim(min(editions) - 0.3, max(editions) + 0.6)
        ax.set_ylim(len(ranks) + 0.5, 0.5)
        ax.set_ylabel("index rank")
        return to_svg(fig, "bump", "Rank history across editions")
