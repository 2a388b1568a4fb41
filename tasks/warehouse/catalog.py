"""Where every raw input, configuration file, suite and warehouse dataset lives: the one place
that knows paths.

Like a Kedro data catalog, code asks for a dataset by its domain name; nothing else in the
project builds paths by hand. The raw trade layout (`raw/trade/<year>/<year>-MM.<format>`)
is defined here once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The formats a month of trade records may come in (`tasks.trade.stream` reads each).
TRADE_SUFFIXES = (".csv", ".csv.gz", ".parquet")

# The datasets an edition publishes, each one Parquet file inside the edition's folder.
EDITION_DATASETS = (
    "trade_facts", "city_trade", "indicator_values", "scores", "validation",
    "contributions", "strengths", "uncertainty", "sensitivity", "screening", "treatment", "quarantine",
    "correlations", "pca", "leave_one_out", "leave_one_out_cities",
)  # fmt: skip

# The folder of an edition's HTML report (`index.html` and its pages).
REPORT = "report"


def trade_file_pattern(year: int) -> str:
    """The whole name a month file of `year` must have: `2018-01.csv`, `2018-12.csv.gz`, `2018-03.parquet`."""
    formats = "|".join(re.escape(s[1:]) for s in TRADE_SUFFIXES)
    return rf"{year}-(0[1-9]|1[0-2])\.({formats})"


@dataclass(frozen=True)
class Catalog:
    """Paths of a project's inputs and outputs; tests point it at temporary folders."""

    raw: Path = PROJECT_ROOT / "raw"
    config: Path = PROJECT_ROOT / "config"
    warehouse: Path = PROJECT_ROOT / "warehouse"
    expectations: Path = PROJECT_ROOT / "expectations"

    @classmethod
    def at(
        cls,
        raw: str | Path | None = None,
        warehouse: str | Path | None = None,
        config: str | Path | None = None,
    ) -> Catalog:
        """The default catalog with any of its folders moved (absolute); the suites stay the project's."""
        default = cls()
        return cls(
            raw=Path(raw).resolve() if raw else default.raw,
            warehouse=Path(warehouse).resolve() if warehouse else default.warehouse,
            config=Path(config).resolve() if config else default.config,
        )

    # raw reference data
    @property
    def cities(self) -> Path:
        return self.raw / "reference" / "cities.csv"

    @property
    def ceec_members(self) -> Path:
        return self.raw / "reference" / "ceec_members.csv"

    @property
    def fx_rates(self) -> Path:
        return self.raw / "reference" / "fx_rates.csv"

    @property
    def national_trade(self) -> Path:
        return self.raw / "reference" / "national_trade.csv"

    def reference_files(self) -> list[Path]:
        return [self.cities, self.ceec_members, self.fx_rates, self.national_trade]

    # raw indicators and trade
    @property
    def indicators(self) -> Path:
        return self.raw / "indicators"

    def indicator_files(self) -> list[Path]:
        return sorted(self.indicators.glob("*.csv"))

    @property
    def trade(self) -> Path:
        return self.raw / "trade"

    def trade_folder(self, year: int) -> Path:
        return self.trade / str(year)

    def trade_file(self, year: int, month: int, suffix: str = ".csv") -> Path:
        """Where the records of one month go (for generators: readers use `trade_files`)."""
        return self.trade_folder(year) / f"{year}-{month:02d}{suffix}"

    def trade_years(self) -> list[int]:
        """Every data year with a folder in raw/trade/, oldest first."""
        folders = self.trade.iterdir() if self.trade.is_dir() else []
        return sorted(int(p.name) for p in folders if p.is_dir() and p.name.isdigit() and len(p.name) == 4)

    def trade_files(self, year: int) -> list[Path]:
        """The monthly customs files of one data year (.csv, .csv.gz or .parquet), in month order."""
        folder = self.trade_folder(year)
        return sorted(p for p in folder.glob(f"{year}-*") if p.name.lower().endswith(TRADE_SUFFIXES))

    def edition_files(self, edition: int, trade_years: Iterable[int]) -> list[Path]:
        """Every file an edition of these trade years reads, in the order its manifest lists them."""
        trade = [f for year in sorted(set(trade_years)) for f in self.trade_files(year)]
        return [*self.reference_files(), self.framework, self.method, *trade, *self.indicator_files()]

    # configuration and contracts
    @property
    def framework(self) -> Path:
        return self.config / "framework.csv"

    @property
    def method(self) -> Path:
        return self.config / "method.yaml"

    def suite_files(self) -> list[Path]:
        """The GX suites, one JSON file per dataset they guard."""
        return sorted(self.expectations.glob("*.json"))

    def suite(self, dataset: str) -> Path:
        return self.expectations / f"{dataset}.json"

    # warehouse: editions
    def edition_dir(self, edition: int) -> Path:
        """The published edition: a symlink swapped atomically to a complete version folder."""
        return self.warehouse / f"edition={edition}"

    @property
    def versions(self) -> Path:
        """Complete version folders live here; readers use the `edition=N` and `trade` links."""
        return self.warehouse / "_versions"

    def edition_versions(self, edition: int) -> Path:
        return self.versions / str(edition)

    def edition_version(self, edition: int, run_id: str) -> Path:
        """The version folder run `run_id` wrote (published, kept, or being staged)."""
        return self.edition_versions(edition) / run_id

    def version_manifest(self, edition: int, run_id: str) -> Path:
        return self.edition_version(edition, run_id) / "manifest.json"

    def published_editions(self) -> list[int]:
        links = self.warehouse.glob("edition=*") if self.warehouse.is_dir() else []
        return sorted(int(p.name.split("=", 1)[1]) for p in links if p.name.split("=", 1)[1].isdigit())

    def dataset(self, edition: int, name: str) -> Path:
        return self.edition_dir(edition) / f"{name}.parquet"

    def manifest(self, edition: int) -> Path:
        return self.edition_dir(edition) / "manifest.json"

    @staticmethod
    def dataset_in(folder: Path, name: str) -> Path:
        """A dataset inside any edition folder: the published one, or a version being staged."""
        return folder / f"{name}.parquet"

    def workbook(self, edition: int, folder: Path | None = None) -> Path:
        """The edition's Excel workbook, `edition-N.xlsx`, in the published edition (or in `folder`)."""
        return (folder or self.edition_dir(edition)) / f"edition-{edition}.xlsx"

    def edition_report(self, edition: int) -> Path:
        """The published edition's report, written into its version folder before the switch."""
        return self.edition_dir(edition) / REPORT

    @staticmethod
    def staged_report(version: Path) -> Path:
        """Where a run writes the report into the version folder it is staging."""
        return version / REPORT

    @property
    def reports(self) -> Path:
        """`index.html`: every published edition and the rank history across them."""
        return self.warehouse / "report"

    def rebuilt_report(self, edition: int) -> Path:
        """A report rebuilt by `coopindex report`, beside the edition: published versions stay as is."""
        return self.reports / f"edition={edition}"

    def version_manifests(self) -> list[Path]:
        """The manifests of every edition version kept (published and the one before)."""
        return sorted(p for p in self.versions.glob("*/*/manifest.json") if p.parent.parent.name.isdigit())

    # warehouse: the trade store
    @property
    def trade_store(self) -> Path:
        """The published clean trade store: a symlink to a complete version folder."""
        return self.warehouse / "trade"

    @property
    def trade_versions(self) -> Path:
        return self.versions / "trade"

    # warehouse: runs and locks
    @property
    def runs(self) -> Path:
        return self.warehouse / "runs"

    def run_dir(self, run_id: str) -> Path:
        """Artifacts of one run, published or not: Data Docs, quarantined rows, the run log."""
        return self.runs / run_id

    def run_log(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "run.json"

    def run_logs(self) -> list[Path]:
        return sorted(self.runs.glob("*/run.json"))

    def data_docs(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "data_docs"

    def lock(self, name: str) -> Path:
        """A file lock in the warehouse (`edition=2018`, `trade`): one writer at a time."""
        return self.warehouse / ".locks" / f"{name}.lock"

    # how paths are shown and recorded
    def relative_to_warehouse(self, path: Path) -> str:
        """A warehouse path as the manifest records it (relative, so the warehouse can move)."""
        return path.resolve().relative_to(self.warehouse.resolve()).as_posix()

    def relative(self, path: Path) -> str:
        """A path as users see it in messages: relative to the raw folder's parent."""
        try:
            return path.resolve().relative_to(self.raw.resolve().parent).as_posix()
        except ValueError:
            return path.as_posix()
