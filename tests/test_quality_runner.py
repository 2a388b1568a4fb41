"""The GX runner: real GX runs with and without the batch fingerprint, and GX imported lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from tasks.quality.runner import failing_positions, run_suite

ROOT = Path(__file__).resolve().parents[1]
EXPECTATIONS = [
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "value", "min_value": 0},
        "meta": {"severity": "critical"},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "code", "value_set": {"$PARAMETER": "codes"}},
        "meta": {"severity": "critical"},
    },
]


def test_quality_modules_do_not_import_gx() -> None:
    modules = ["validation", "quarantine", "distinct", "load", "runner", "suites", "results", "values"]
    imports = "; ".join(f"import tasks.quality.{m}" for m in modules)
    code = f"import sys; {imports}; print('great_expectations' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_gx_loads_without_scipy_stats_which_loads_on_first_use() -> None:
    """tasks.quality defers scipy.stats, which GX imports for expectations no suite uses: a
    validation and a Data Docs site leave it unloaded, and it works in full when used."""
    code = (
        "import sys, tempfile; from pathlib import Path; import pandas as pd\n"
        "from tasks.quality import data_docs, runner, validation\n"
        "import great_expectations\n"
        "frame = pd.DataFrame({'city_code': ['NGB'], 'name_en': ['Ningbo'], 'name_zh': ['x'],\n"
        "    'province': ['Zhejiang'], 'source_file': ['raw/reference/cities.csv'], 'source_line': [2]})\n"
        "outcome = validation.validate(frame, 'cities', suites=Path('expectations'))\n"
        "from tasks.quality.suites import load_suite\n"
        "spec = load_suite('cities', Path('expectations'))\n"
        "pages = [(spec, page, f) for f, page in outcome.pages]\n"
        "data_docs.build(pages, Path(tempfile.mkdtemp()) / 'd', 'r')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('scipy.stats.'))\n"
        "from scipy.stats import norm\n"
        "print(outcome.success, loaded, round(norm.ppf(0.975), 4))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip() == "True [] 1.96", done.stderr[-3000:]


def test_a_run_without_fingerprint_differs_only_by_its_marker() -> None:
    frame = pd.DataFrame({"value": [1.0, -2.0, 3.0, -4.0], "code": ["a", "b", "z", "a"]})
    runs = {
        fingerprint: run_suite(frame, "toy", EXPECTATIONS, [0, 1], {"codes": ["a", "b"]}, fingerprint)
        for fingerprint in (True, False)
    }
    for run in runs.values():
        assert [failing_positions(run.results[i]).tolist() for i in (0, 1)] == [[1, 3], [2]]
    hashed, unhashed = runs[True], runs[False]
    for i, result in hashed.results.items():
        assert (result.success, result.result) == (unhashed.results[i].success, unhashed.results[i].result)
    assert "pandas_data_fingerprint" in hashed.suite.meta["batch_markers"]
    assert set(unhashed.suite.meta["batch_markers"]) == {"ge_load_time"}
    assert unhashed.suite.batch_id == hashed.suite.batch_id == "coopindex-frames"
    for key in ("batch_spec", "active_batch_definition"):
        assert unhashed.suite.meta[key] == hashed.suite.meta[key]


def test_nothing_to_run_runs_nothing() -> None:
    run = run_suite(pd.DataFrame({"value": [1.0]}), "toy", EXPECTATIONS, [], {}, False)
    assert run.results == {} and run.suite is None
