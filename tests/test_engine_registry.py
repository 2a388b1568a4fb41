import ast
import subprocess
import sys

import pandas as pd
import pytest

from tasks.engine import weight
from tasks.engine.framework import Framework
from tasks.engine.index import compute_index
from tasks.engine.method import Method, MethodError, read_method
from tasks.warehouse.catalog import PROJECT_ROOT

TREE = Framework.from_table(
    pd.DataFrame(
        [("index", "", 3, 1, 1), ("d1", "index", 2, 3, 1), ("d2", "index", 2, 1, 1),
         ("a", "d1", 1, 2, 1), ("b", "d1", 1, 6, -1), ("c", "d2", 1, 5, 1)],
        columns=["code", "parent", "level", "weight", "direction"],
    )
)  # fmt: skip
RAW = pd.DataFrame(
    {"a": [1.0, 2.0, 3.0, 4.0], "b": [4.0, 1.0, 2.0, 3.0], "c": [2.0, 4.0, 1.0, 3.0]},
    index=pd.Index(["P", "Q", "R", "S"], name="city_code"),
)


def test_an_unknown_weighting_is_refused_naming_the_registry(tmp_path):
    names = str(sorted(weight.WEIGHTERS))
    path = tmp_path / "method.yaml"
    path.write_text("name: m\nversion: '1'\nweight: {method: entropy}\n")
    with pytest.raises(
        MethodError, match=rf"weight.method 'entropy' is not one of {names}".replace("[", r"\[")
    ):
        read_method(path)
    path.write_text(
        "name: m\nversion: '1'\nuncertainty: {choices: "
        "[{name: weighting, kind: alternatives, alternatives: [equal, entropy]}]}\n"
    )
    with pytest.raises(MethodError, match=r"weighting alternative 'entropy' is not one of \['equal'"):
        read_method(path)


def test_the_registry_drives_the_weighting(monkeypatch):
    def heavier_a(normalised: pd.DataFrame, framework: Framework) -> pd.Series:
        return framework.relative_weights(framework.column("weight").mask(lambda w: w.index == "a", 12.0))

    monkeypatch.setitem(weight.WEIGHTERS, "heavy_a", heavier_a)
    method = Method(name="m", version="1", weight={"method": "heavy_a"}, aggregate={"min_share": 0.0})
    stages = compute_index(RAW, TREE, method)
    assert stages.weights[["a", "b"]].tolist() == pytest.approx([2 / 3, 1 / 3])
    equal = compute_index(
        RAW, TREE, Method(name="m", version="1", weight={"method": "equal"}, aggregate={"min_share": 0.0})
    )
    assert equal.weights[["a", "b"]].tolist() == [0.5, 0.5]
    assert not stages.aggregated["d1"].equals(equal.aggregated["d1"])


def test_reading_the_method_loads_neither_salib_nor_scipy():
    code = (
        "import sys, pathlib; from tasks.engine.method import read_method; "
        "read_method(pathlib.Path('config/method.yaml')); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('SALib', 'scipy')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_no_engine_module_imports_another_s_private_names_or_grows_past_400_lines():
    for path in sorted((PROJECT_ROOT / "tasks" / "engine").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 400, path.name
        private = [
            alias.name
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tasks.")
            for alias in node.names
            if alias.name.startswith("_")
        ]
        assert not private, (path.name, private)
