"""Golden test: COINr's ASEM example through `coopindex score` reproduces every stored stage.

Feeds `ASEM_iMeta.csv` + `ASEM_iData.csv` and `tests/coinr_asem_method.yaml` to the command a
user runs, reads the Parquet stages it writes, and compares each with COINr's stored stage
(`ASEM_COIN_<Stage>.csv`) to 1e-6. Any drift in any verb fails here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.warehouse.catalog import PROJECT_ROOT
from tests.conftest import coopindex

ASEM = PROJECT_ROOT / "tests" / "data" / "coinr_asem"
METHOD = PROJECT_ROOT / "tests" / "coinr_asem_method.yaml"
# our stage -> COINr's stored stage
STAGES = {
    "denominated": "Denominated",
    "imputed": "Imputed",
    "treated": "Treated",
    "normalised": "Normalised",
    "aggregated": "Aggregated",
}


def coinr_stage(name: str) -> pd.DataFrame:
    table = pd.read_csv(ASEM / f"ASEM_COIN_{name}.csv").set_index("UnitCode")
    return table.drop(
        columns=[c for c in table.columns if c in ("UnitName", "Year") or c.startswith("Group_")]
    )


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("asem")
    data = ["--framework", str(ASEM / "ASEM_iMeta.csv"), "--data", str(ASEM / "ASEM_iData.csv")]
    result = coopindex("score", *data, "--method", str(METHOD), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_matches_coinr(scored, stage):
    out, _ = scored
    ours = pd.read_parquet(out / f"{stage}.parquet").set_index("unit")
    if stage == "aggregated":  # COINr's Aggregated set also carries the normalised indicators
        ours = pd.read_parquet(out / "normalised.parquet").set_index("unit").join(ours)
    theirs = coinr_stage(STAGES[stage])
    assert sorted(ours.columns) == sorted(theirs.columns)
    ours = ours.loc[theirs.index, theirs.columns]
    assert ours.isna().equals(theirs.isna())
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9, atol=1e-6, equal_nan=True)


def test_published_top_six_and_results_csv(scored):
    out, result = scored
    results = pd.read_csv(out / "results.csv")
    top = results.head(6)
    assert top["unit"].tolist() == ["CHE", "NLD", "DNK", "NOR", "BEL", "SWE"]
    assert top["Index"].round(2).tolist() == [68.38, 64.82, 64.80, 64.47, 63.54, 63.00]
    assert results["rank"].tolist() == sorted(results["rank"]) and len(results) == 51
    assert "Switzerland" in result.stdout


def test_treatment_report_names_the_winsorised_indicators(scored):
    out, _ = scored
    report = pd.read_parquet(out / "treatment.parquet")
    treated = report[report["treated"]]
    assert len(treated) > 0 and (treated["method"] == "winsorise").all()
    assert (treated["points_changed"] <= 5).all()
    screening = pd.read_parquet(out / "screening.parquet")
    assert screening["kept"].all() and len(screening) == 51
