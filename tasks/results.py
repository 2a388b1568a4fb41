"""Results: ranks of every node, the long score table the warehouse holds, top-N summaries."""

from __future__ import annotations

import pandas as pd

from tasks.framework import Framework


def rank(scores: pd.DataFrame) -> pd.DataFrame:
    """Rank units within every column, highest first; ties share the better (lower) rank."""
    return scores.rank(ascending=False, method="min", na_option="keep").astype("Int64")


def score_table(
    raw: pd.DataFrame, normalised: pd.DataFrame, aggregated: pd.DataFrame, framework: Framework
) -> pd.DataFrame:
    """Long table: one row per unit and node with its raw value (indicators), score and rank."""
    scores = pd.concat([normalised, aggregated], axis=1)
    ranks = rank(scores)
    unit = scores.index.name or "unit"
    long = scores.stack(future_stack=True).rename("score").reset_index()
    long.columns = [unit, "node", "score"]
    long["rank"] = ranks.stack(future_stack=True).astype("Int64").array
    long["raw_value"] = raw.reindex(columns=scores.columns).stack(future_stack=True).to_numpy()
    meta = framework.table.set_index("code")[["level", "parent"]]
    long = long.join(meta, on="node")
    long["weight_in_index"] = long["node"].map(framework.effective_weights())
    order = {code: i for i, code in enumerate(framework.table.sort_values("level", ascending=False)["code"])}
    long = long.sort_values(["node", "rank", unit], key=lambda s: s.map(order) if s.name == "node" else s)
    columns = [unit, "node", "level", "parent", "raw_value", "score", "rank", "weight_in_index"]
    return long[columns].reset_index(drop=True)


def top_mean(index_scores: pd.Series, n: int) -> float:
    """Mean score of the `n` best units, the headline figure the evaluation quotes."""
    return float(index_scores.dropna().sort_values(ascending=False).head(n).mean())


def top_table(scores: pd.DataFrame, framework: Framework, n: int) -> pd.DataFrame:
    """Rank, city, index and dimension scores of the `n` best cities, from a scores table."""
    dimensions = framework.children(framework.root)["code"].tolist()
    nodes = [framework.root, *dimensions]
    wide = scores[scores["node"].isin(nodes)].pivot(
        index=["city_code", "city_name"], columns="node", values="score"
    )
    ranks = scores[scores["node"] == framework.root].set_index("city_code")["rank"]
    wide = wide[nodes].reset_index()
    wide.insert(0, "rank", wide["city_code"].map(ranks).astype("Int64"))
    return wide.sort_values(["rank", "city_code"]).head(n).reset_index(drop=True)
