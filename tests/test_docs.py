"""The documentation is true: its snippets run, its links resolve, the numbers it states hold.

- Every ```python block of README.md and docs/*.md runs against a copy of the edition the
  session publishes (`published_2018`), from the folder that holds the copy's `warehouse/`,
  so that `warehouse/edition=2018/...` resolves as it does from the repository root.
- Every `.venv/bin/coopindex` line of a ```sh block names a real command and real options;
  the cheap ones (`--help`, `show`, `runs`, `validate`, `score`) run, pointed at the copy.
- Every relative link of README.md, docs/*.md, raw/README.md and warehouse/README.md points at
  an existing file (and heading).
- What the docs state that can be checked cheaply is checked: the suites, the pipeline's
  steps, the layers, the commands, the method file's keys and defaults, every dataset's
  columns and types, row counts, the published figures.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from contextlib import chdir
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from tasks.warehouse.catalog import EDITION_DATASETS, PROJECT_ROOT
from tests.conftest import copy_warehouse

README = PROJECT_ROOT / "README.md"
DOCS = [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
POINTERS = [PROJECT_ROOT / "raw" / "README.md", PROJECT_ROOT / "warehouse" / "README.md"]
COOPINDEX = ".venv/bin/coopindex"
CHEAP = {"--help", "show", "runs", "validate", "score"}  # seconds each: the test runs them
OWN_PROCESS = {"runs"}  # run as a user runs them: no other test starts `coopindex runs`
WORDS = {2: "two", 5: "five", 7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def flat(path: Path) -> str:
    """The file's words on one line, so that a phrase may span a line break."""
    return " ".join(text(path).split())


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text(path)) if lang == language]


def prose(path: Path) -> str:
    """The file without its code blocks."""
    return FENCE.sub("", text(path))


def section(path: Path, heading: str) -> str:
    """The text under `heading` (a whole heading line) up to the next heading of its level or above."""
    lines = prose(path).splitlines()
    level = len(heading) - len(heading.lstrip("#"))
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if re.match(rf"^#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start:end])


def table_rows(markdown: str) -> list[list[str]]:
    """The body rows of every table in `markdown`, as cells (`\\|` is a literal bar)."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*-", line):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows.append(cells)
    return rows


def first_table(markdown: str) -> list[list[str]]:
    """The body rows of the first table in `markdown` (its header row left out)."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return table_rows("\n".join(lines[start:end]))[1:]


def code(cell: str) -> str:
    """The first `backticked` text of a cell."""
    found = re.search(r"`([^`]+)`", cell)
    assert found, f"no `code` in {cell!r}"
    return found.group(1)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    words = heading.strip().lstrip("#").strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", words).replace(" ", "-")


# --- the published edition the snippets read --------------------------------------------------


@pytest.fixture(scope="module")
def analyst_root(published_2018, tmp_path_factory) -> Path:
    """A folder holding `warehouse/`, a copy of the published 2018 edition that snippets may touch."""
    root = tmp_path_factory.mktemp("docs")
    copy_warehouse(published_2018[0], root / "warehouse")
    return root


@pytest.fixture(scope="module")
def edition(analyst_root) -> Path:
    return analyst_root / "warehouse" / "edition=2018"


@pytest.fixture(scope="module")
def manifest(edition) -> dict:
    return json.loads((edition / "manifest.json").read_text())


PYTHON_SNIPPETS = [(p, i) for p in DOCS for i, _ in enumerate(blocks(p, "python"))]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "number"), PYTHON_SNIPPETS, ids=[f"{p.name}-{i + 1}" for p, i in PYTHON_SNIPPETS]
)
def test_the_python_snippets_run(path, number, analyst_root, capsys):
    """Each snippet as a script of its own (a fresh namespace: it must import what it uses), in
    this process: a new interpreter would only re-import pandas, ~2 s of CPU a snippet."""
    snippet = blocks(path, "python")[number]
    with chdir(analyst_root):
        exec(compile(snippet, f"{path.name}-snippet-{number + 1}", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip(), f"{path.name} snippet {number + 1} printed nothing"


def command_lines() -> list[tuple[Path, list[str]]]:
    """Every `.venv/bin/coopindex ...` line of a sh block, as arguments (comments dropped)."""
    found = []
    for path in DOCS:
        for block in blocks(path, "sh"):
            for line in block.replace("\\\n", " ").splitlines():  # continuation lines joined
                if line.startswith(COOPINDEX):
                    found.append((path, shlex.split(line, comments=True)[1:]))
    return found


def test_every_command_line_names_a_real_command_and_real_options():
    import typer.main

    from flows.cli import app

    commands = typer.main.get_command(app).commands
    lines = command_lines()
    assert {args[0] for _, args in lines} >= {"--help", "run", "show", "validate", "runs", "score"}
    for path, args in lines:
        if args == ["--help"]:
            continue
        assert args[0] in commands, f"{path.name}: no command {args[0]!r}"
        options = {o for p in commands[args[0]].params for o in p.opts} | {"--help"}
        unknown = [a for a in args[1:] if a.startswith("-") and a not in options]
        assert not unknown, f"{path.name}: {shlex.join(args)}: {args[0]} has no option {unknown}"


def test_the_readme_lists_every_command():
    import typer.main

    from flows.cli import app

    listed = [code(row[0]) for row in first_table(section(README, "## Commands"))]
    assert sorted(listed) == sorted(typer.main.get_command(app).commands)


@pytest.mark.slow
def test_the_cheap_command_lines_run(analyst_root, tmp_path):
    """Each distinct cheap line once, at the copy's warehouse; `--out` goes to a temporary folder.

    In this process (CliRunner): a fresh interpreter per line re-imports pandas, Prefect and GX,
    ~9 s of CPU each, and proves nothing about the line. `runs`, whose only test in its own
    process this is, still gets one; the others have theirs in test_cli.py, test_coinr_asem.py."""
    import typer.main
    from typer.testing import CliRunner

    from flows.cli import app

    commands = typer.main.get_command(app).commands
    warehouse = str(analyst_root / "warehouse")
    seen = set()
    for path, args in command_lines():
        if args[0] not in CHEAP or tuple(args) in seen:
            continue
        seen.add(tuple(args))
        run = list(args)
        if "--out" in run:
            run[run.index("--out") + 1] = str(tmp_path / "out")
        takes = args[0] in commands and any("--warehouse" in p.opts for p in commands[args[0]].params)
        if takes and "--warehouse" not in run:
            run += ["--warehouse", warehouse]
        if args[0] in OWN_PROCESS:
            done = subprocess.run(
                [sys.executable, "-m", "flows.cli", *run],
                cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            code, stdout, output = done.returncode, done.stdout, done.stdout + done.stderr
        else:
            with chdir(PROJECT_ROOT):  # the lines' relative paths, as from the repository root
                done = CliRunner().invoke(app, run, env={"COLUMNS": "80"})
            code, stdout, output = done.exit_code, done.stdout, done.output + repr(done.exception)
        assert code == 0, f"{path.name}: {shlex.join(args)}\n{output}"
        expected = {
            "--help": "Usage",
            "show": "Ningbo",
            "runs": "published",
            "validate": "pass every critical check",
            "score": "Switzerland",
        }[args[0]]
        assert expected in stdout, f"{shlex.join(args)}:\n{stdout}"
    assert {args[0] for args in seen} == CHEAP


# --- links -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCS + POINTERS, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_relative_link_resolves(path):
    links = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", prose(path))
    for link in links:
        if re.match(r"^[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{path.name}: link {link!r} points at no file"
        if anchor:
            assert file.suffix == ".md", f"{path.name}: anchor {link!r} on a file that is not markdown"
            anchors = {slug(line) for line in prose(file).splitlines() if line.startswith("#")}
            assert anchor in anchors, f"{path.name}: {link!r}: no heading #{anchor} in {file.name}"


def test_the_readme_is_short():
    assert len(text(README).split()) <= 1000


# --- numbers and names the docs state ----------------------------------------------------------


def test_the_suites(edition, manifest):
    suites = sorted(p.stem for p in (PROJECT_ROOT / "expectations").glob("*.json"))
    contracts = flat(PROJECT_ROOT / "docs" / "contracts.md")
    assert f"holds {WORDS[len(suites)]} suites" in contracts
    assert all(f"`{name}`" in contracts for name in suites)
    run = edition.parent / "runs" / manifest["run_id"] / "data_docs" / "expectations"
    in_data_docs = len(list(run.glob("*.html")))
    for doc in ("contracts.md", "warehouse.md"):
        assert f"{WORDS[in_data_docs]} input suites" in flat(PROJECT_ROOT / "docs" / doc), doc
    assert f"{manifest['validation']['expectations']} checks in all" in contracts


def test_the_quarantine_share_and_what_is_kept():
    from tasks.engine.method import Quality
    from tasks.quality.data_docs import KEEP_RUNS
    from tasks.trade.ingest import MAX_VERSIONS, PRUNE_AFTER_S
    from tasks.warehouse.publish import KEEP_VERSIONS

    share = Quality().quarantine_max_share * 100
    assert f"{share:g} %" in flat(PROJECT_ROOT / "docs" / "contracts.md")
    warehouse = flat(PROJECT_ROOT / "docs" / "warehouse.md")
    assert f"newest {WORDS[KEEP_RUNS]} runs" in warehouse
    assert KEEP_VERSIONS == 2 and "the published version and the one before it are kept" in warehouse
    assert PRUNE_AFTER_S == 3600 and "younger than an hour" in warehouse
    assert f"at most {WORDS[MAX_VERSIONS]} versions in all" in warehouse
    assert f"keep only the newest {WORDS[MAX_VERSIONS]}" in warehouse


def test_the_pipeline_steps_and_the_layers():
    from tasks.edition.pipeline import CHECKS, EDITION
    from tests.test_architecture import LAYERS, MAX_LINES

    architecture = PROJECT_ROOT / "docs" / "architecture.md"
    steps = [code(row[0]) for row in first_table(section(architecture, "## The edition pipeline"))]
    assert steps == [s.name for s in EDITION.steps]
    writes = {code(row[0]) for row in first_table(section(architecture, "## The edition pipeline"))
              if "(writes)" in row[3]}  # fmt: skip
    assert writes == {s.name for s in EDITION.steps if s.writes}
    assert f"up to `{CHECKS.steps[-1].name}`" in flat(PROJECT_ROOT / "docs" / "operations.md")
    assert " < ".join(f"`{layer}`" for layer in LAYERS) in flat(architecture)
    assert f"more than {MAX_LINES} lines" in flat(architecture)
    packages = sorted(p.name for p in (PROJECT_ROOT / "tasks").iterdir() if (p / "__init__.py").exists())
    assert all(f"tasks/{name}/" in text(architecture) for name in packages)


def test_the_deployments():
    from flows.deployments import DEPLOYMENTS, FLOWS

    operations = text(PROJECT_ROOT / "docs" / "operations.md")
    for name, spec in DEPLOYMENTS.items():
        assert f"`{FLOWS[spec['flow']].name}/{name}`" in operations


def schema_keys() -> dict[str, object]:
    """Every key of the method file with its default ("(required)" when it has none)."""
    from pydantic import BaseModel

    from tasks.engine.method import Method, UncertainChoice

    def walk(model: type[BaseModel], prefix: str) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, field in model.model_fields.items():
            required = field.is_required()
            default = "(required)" if required else field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                out |= walk(type(default), f"{prefix}{name}.")
            else:
                out[f"{prefix}{name}"] = default
        return out

    return walk(Method, "") | walk(UncertainChoice, "uncertainty.choices[].")


def test_the_method_keys_and_defaults():
    method = PROJECT_ROOT / "docs" / "method.md"
    rows = first_table(section(method, "## The method file"))
    documented = {code(row[0]): row[1] for row in rows}
    expected = schema_keys()
    assert set(documented) == set(expected)
    for key, cell in documented.items():
        default = expected[key]
        if default == "(required)":
            assert cell == "(required)", key
            continue
        value = yaml.safe_load(code(cell))
        if isinstance(value, str) and re.fullmatch(r"\d+/\d+", value):
            value = float(Fraction(value))
        if isinstance(default, tuple):
            default = list(default)
        assert value == default, f"{key}: documented {cell}, the schema says {default!r}"


def test_every_registered_method_and_loader_error_is_documented():
    from tasks.engine.aggregate import AGGREGATORS
    from tasks.engine.impute import IMPUTERS, PANEL_IMPUTERS
    from tasks.engine.normalise import NORMALISERS
    from tasks.engine.treat import TREATMENTS
    from tasks.engine.weight import WEIGHTERS
    from tasks.quality.load_errors import Kind

    method = text(PROJECT_ROOT / "docs" / "method.md")
    for registry in (AGGREGATORS, IMPUTERS, PANEL_IMPUTERS, NORMALISERS, TREATMENTS, WEIGHTERS):
        assert all(f"`{name}`" in method for name in registry), sorted(registry)
    loader = first_table(section(PROJECT_ROOT / "docs" / "contracts.md", "## Loader errors"))
    assert sorted(code(row[0]) for row in loader) == sorted(k.value for k in Kind)


def test_every_dataset_schema_is_the_published_one(edition):
    warehouse = PROJECT_ROOT / "docs" / "warehouse.md"
    for name in EDITION_DATASETS:
        rows = first_table(section(warehouse, f"## {name}.parquet"))
        documented = [(code(row[0]), row[1]) for row in rows]
        published = [(f.name, str(f.type)) for f in pq.read_schema(edition / f"{name}.parquet")]
        assert documented == published, name


def test_the_trade_store_is_as_documented(analyst_root, edition):
    store = analyst_root / "warehouse" / "trade"
    rows = {row[0]: row[1] for row in first_table(section(PROJECT_ROOT / "docs" / "warehouse.md",
                                                          "## The trade store"))}  # fmt: skip
    for key, file in (("`city_partner_month.parquet`, `aggregates/*.parquet`", "city_partner_month"),
                      ("`city_year.parquet`", "city_year")):  # fmt: skip
        documented = re.findall(r"`(\w+)` (\w+)", rows[key])
        assert documented == [(f.name, str(f.type)) for f in pq.read_schema(store / f"{file}.parquet")]
    columns = {n: pq.read_schema(edition / f"{n}.parquet").names for n in ("validation", "quarantine")}
    assert pq.read_schema(store / "validation.parquet").names == [*columns["validation"][:-1], "file"]
    assert pq.read_schema(store / "quarantine.parquet").names == columns["quarantine"][:-1]
    part = next((store / "facts").glob("year=*/month=*/*.parquet"))
    facts = pq.read_schema(edition / "trade_facts.parquet").names
    assert pq.read_schema(part).names == [c for c in facts if c not in ("year", "edition")]
    entry = next(iter(json.loads((store / "manifest.json").read_text())["files"].values()))
    listed = re.findall(r"`(\w+)`", flat(PROJECT_ROOT / "docs" / "warehouse.md").split("per raw file")[-1])
    assert set(entry) <= set(listed)


def test_the_row_counts_and_figures(edition, manifest):
    warehouse = PROJECT_ROOT / "docs" / "warehouse.md"
    rows = first_table(section(warehouse, "## Layout"))
    documented = {code(r[0]).removesuffix(".parquet"): int(r[2].replace(",", "")) for r in rows if r[2]}
    assert documented == manifest["row_counts"]["outputs"]

    scores = pd.read_parquet(edition / "scores.parquet")
    index = scores[scores["node"] == "index"].set_index("city_name")["score"].sort_values(ascending=False)
    readme = text(README)
    assert f"mean of the top 15: {index.head(15).mean():.5f}" in readme
    for city in index.index[:2]:
        assert re.search(rf"│ {city} +│ +{index[city]:.4f} │", readme), city
    framework = pd.read_csv(PROJECT_ROOT / "config" / "framework.csv")
    assert (framework["level"] == 2).sum() == 5 and "five dimensions" in flat(README)
    assert f"{(framework['level'] == 1).sum()} indicators" in readme

    sensitivity = pd.read_parquet(edition / "sensitivity.parquet").set_index("choice")["ST"].round(2)
    stated = f"normalisation `ST` {sensitivity['normalisation']:.2f}, aggregation " \
             f"{sensitivity['aggregation']:.2f}, weights {sensitivity['weights']:.2f}"  # fmt: skip
    assert stated in flat(warehouse)
    uncertainty = pd.read_parquet(edition / "uncertainty.parquet")
    width = (uncertainty["q95"] - uncertainty["q05"]).median()
    assert f"median interval is {width:g} ranks wide" in flat(warehouse)
    cargo = pd.read_parquet(edition / "treatment.parquet").set_index("indicator").loc["cargo_flights"]
    stated = f"skew {cargo['skew_before']:.2f}, kurtosis {cargo['kurtosis_before']:g}"
    assert stated in flat(warehouse)


def test_the_sample_sizes(analyst_root):
    """raw/README's rows per trade year are the rows the ingest read from each year's files."""
    files = json.loads((analyst_root / "warehouse" / "trade" / "manifest.json").read_text())["files"]
    per_year = pd.Series({k: e["rows_in"] for k, e in files.items()}).groupby(lambda k: k[:4]).sum()
    rows = table_rows(section(PROJECT_ROOT / "raw" / "README.md", "## Sizes"))
    years = next(r for r in rows if r[0] == "trade year")[1:]
    counts = next(r for r in rows if r[0] == "rows")[1:]
    assert dict(zip(years, (int(c.replace(",", "")) for c in counts), strict=True)) == per_year.to_dict()
    assert f"| {per_year.sum():,} |" in text(PROJECT_ROOT / "raw" / "README.md")
