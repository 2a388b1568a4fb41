"""The artifacts of an edition's flow run, also put on the run that called it.

A deployment's run (the one whose URL `prefect deployment run` prints) calls `score-edition`
as a subflow: the artifacts go to both runs. The edition's run gets them under keys
(`edition-N-…`, listed on the UI's Artifacts page with their history); the calling run gets the
same artifacts without a key, so that each key's history holds one version per edition run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pandas as pd
from prefect.artifacts import Artifact, LinkArtifact, MarkdownArtifact, TableArtifact

from tasks.edition.errors import ERROR_COLUMNS, error_rows


def publish_artifacts(edition: int, ranking: pd.DataFrame, markdown: str, links: dict[str, Path]) -> None:
    """The ranking (table), the summary (markdown) and a link to each report of a published edition."""
    table = ranking.astype(object).where(ranking.notna(), None).to_dict("records")
    made: list[tuple[str, Callable[..., Artifact]]] = [
        ("ranking", lambda **k: TableArtifact(table=table, **k)),
        ("summary", lambda **k: MarkdownArtifact(markdown=markdown, **k)),
    ]
    descriptions = {
        "ranking": f"China-CEEC cooperation index, edition {edition}: top {len(ranking)}",
        "summary": f"Edition {edition} published: checks, rows, reports, what moved",
    }
    for name, path in links.items():
        made.append((name, _link(path)))
        descriptions[name] = f"Edition {edition}: {name.replace('-', ' ')} ({path})"
    parent = _calling_run()
    for name, make in made:
        _create(f"edition-{edition}-{name}", descriptions[name], make, parent)


def error_artifacts(edition: int, exc: BaseException, links: dict[str, Path]) -> None:
    """A table of what stopped the run (file, line, column, expected, found), and its reports."""
    rows = [{c: row[c] for c in ERROR_COLUMNS} for row in error_rows(exc)]
    parent = _calling_run()
    _create(
        f"edition-{edition}-errors",
        f"Edition {edition} was not published: {len(rows)} problem(s) to fix",
        lambda **k: TableArtifact(table=rows, **k),
        parent,
    )
    for name, path in links.items():
        description = f"Edition {edition}: {name.replace('-', ' ')} ({path})"
        _create(f"edition-{edition}-{name}", description, _link(path), parent)


def _link(path: Path) -> Callable[..., Artifact]:
    uri = path.absolute().as_uri()
    return lambda **k: LinkArtifact(link=uri, link_text=uri, **k)


def _create(key: str, description: str, make: Callable[..., Artifact], parent: UUID | None) -> None:
    make(key=key, description=description).create()
    if parent is not None:
        make(description=description, flow_run_id=parent).create()


def _calling_run() -> UUID | None:
    """The flow run that called this one as a subflow (a deployment's run), if any."""
    from prefect.runtime import flow_run

    parent = flow_run.parent_flow_run_id
    return UUID(parent) if parent else None
