"""The layering, checked on the source rather than hoped for.

- `tasks.engine` (the scoring library) imports no other package of the project: no Prefect, no
  GX, no warehouse; `coopindex score` and editions both use it.
- Packages of `tasks/` import only packages below them: engine < warehouse < quality < trade <
  report < edition < bench (`tasks.parquet`, the file format, is below them all). `flows/` is on top.
- Only `flows/` imports Prefect (and prefect-dask).
- No module imports another module's private names (`from m import _x`).
- No import cycles between modules (module-level imports; an import inside a function is the
  way to defer a heavy one, and does not make a cycle at import time).
- No module of `tasks/` or `flows/` is over 400 lines.
- `coopindex --help`, `show` and `runs` import none of great_expectations, SALib, scipy or Prefect's
  server.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tasks.warehouse.catalog import PROJECT_ROOT

LAYERS = ["tasks.parquet", "tasks.engine", "tasks.warehouse", "tasks.quality", "tasks.trade", "tasks.report",
          "tasks.edition",
          "tasks.bench", "flows"]  # fmt: skip
PREFECT_ONLY_IN = "flows"
MAX_LINES = 400


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module (or package) imported
    names: tuple[str, ...]
    line: int
    top_level: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path, packages: tuple[str, ...] = ("tasks", "flows")) -> list[Import]:
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(root, path)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            top = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found += [Import(module, a.name, (), node.lineno, id(node) in top) for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = tuple(a.name for a in node.names)
                    found.append(Import(module, node.module, names, node.lineno, id(node) in top))
    return found


def layer(module: str) -> int | None:
    for rank, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def problems(root: Path) -> list[str]:
    """Every breach of the rules in the module docstring, as lines a reader can act on."""
    found = imports(root)
    ours = {module_name(root, p) for pkg in ("tasks", "flows") for p in (root / pkg).rglob("*.py")}
    out = []
    for imp in found:
        where = f"{imp.module}:{imp.line}"
        source, target = layer(imp.module), layer(imp.target)
        if source is not None and target is not None and target > source:
            out.append(f"{where} imports {imp.target}: {LAYERS[source]} may not import {LAYERS[target]}")
        if imp.target.split(".")[0] in ("prefect", "prefect_dask") and not imp.module.startswith(
            PREFECT_ONLY_IN
        ):
            out.append(f"{where} imports {imp.target}: only {PREFECT_ONLY_IN}/ imports Prefect")
        private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        if private and imp.target.split(".")[0] in ("tasks", "flows"):
            out.append(f"{where} imports private {private} from {imp.target}")
    graph: dict[str, set[str]] = {m: set() for m in ours}
    for imp in found:
        if not imp.top_level:
            continue
        targets = [imp.target] + [f"{imp.target}.{n}" for n in imp.names]
        graph[imp.module] |= {t for t in targets if t in ours and t != imp.module}
    out += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    for pkg in ("tasks", "flows"):
        for path in sorted((root / pkg).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                out.append(f"{path.relative_to(root)} has {lines} lines (at most {MAX_LINES})")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), each as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(sorted(group) + [sorted(group)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_project_keeps_its_layers():
    assert problems(PROJECT_ROOT) == []


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "tasks/engine/leak.py",
            "from tasks.warehouse.catalog import Catalog\n",
            "tasks.engine may not import",
        ),
        ("tasks/quality/leak.py", "import prefect\n", "only flows/ imports Prefect"),
        (
            "tasks/trade/leak.py",
            "from tasks.edition.read import load_inputs\n",
            "may not import tasks.edition",
        ),
        ("tasks/engine/leak.py", "from tasks.engine.method import _Strict\n", "imports private"),
        ("tasks/engine/leak.py", "from tasks.engine import leak2\n", "import cycle"),
        ("tasks/engine/long.py", "x = 1\n" * 401, "has 401 lines"),
    ],
)
def test_the_checker_catches_a_breach(tmp_path, path, source, expected):
    """Each rule fails on a copy of the project with one forbidden line added."""
    for package in ("tasks", "flows"):
        for file in (PROJECT_ROOT / package).rglob("*.py"):
            target = tmp_path / file.relative_to(PROJECT_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.read_bytes())
    (tmp_path / path).write_text(source)
    (tmp_path / "tasks/engine/leak2.py").write_text("from tasks.engine import leak\n")
    found = problems(tmp_path)
    assert any(expected in line for line in found), found


def test_help_show_and_runs_start_without_the_heavy_libraries(tmp_path):
    """`coopindex --help`, `show` and `runs` (their help, and the commands themselves on an empty
    warehouse): none of GX, SALib, scipy, Prefect's server."""
    heavy = ("great_expectations", "SALib", "scipy", "prefect.server")
    where = ["--warehouse", str(tmp_path / "warehouse")]
    for command in (["--help"], ["show", "--help"], ["runs", "--help"], ["show", *where], ["runs", *where]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "flows.cli", *command],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
        assert "Traceback" not in done.stderr, (command, done.stderr[-2000:])
        assert "Usage" in done.stdout or "--help" not in command, command
        assert not [m for m in loaded if m.split(".")[0] in heavy or m.startswith("prefect.server")], command
