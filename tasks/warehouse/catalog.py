"""Where every raw input and warehouse dataset lives: the one place that knows paths.

Like a Kedro data catalog, code asks for a dataset by its domain name; nothing else in the
project builds paths by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The formats a month of trade records may come in (`tasks.trade.stream` reads each).
TRADE_SUFFIXES = (".csv", ".csv.gz", ".parquet")

# The datasets an edition publishes, each one Parquet file inside the edition's folder.
EDITION_DATASETS = (
    "trade_facts", "city_trade", "indicator_values", "scores", "validation",
    "contributions", "strengths", "uncertainty", "sensitivity", "screening", "treatment", "quarantine",
)  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """Paths of a project's inputs and outputs; tests point it at temporary folders."""

    raw: Path = PROJECT_ROOT / "raw"
    config: Path = PROJECT_ROOT / "config"
    warehouse: Path = PROJECT_ROOT / "warehouse"
    expectations: Path = PROJECT_ROOT / "expectations"

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

    def trade_files(self, year: int) -> list[Path]:
        """The monthly customs files of one data year (.csv, .csv.gz or .parquet), in month order."""
        folder = self.raw / "trade" / str(year)
        return sorted(p for p in folder.glob(f"{year}-*") if p.name.lower().endswith(TRADE_SUFFIXES))

    def indicator_files(self) -> list[Path]:
        return sorted((self.raw / "indicators").glob("*.csv"))

    # configuration
    @property
    def framework(self) -> Path:
        return self.config / "framework.csv"

    @property
    def method(self) -> Path:
        return self.config / "method.yaml"

    # warehouse
    def edition_dir(self, edition: int) -> Path:
        """The published edition: a symlink swapped atomically to a complete version folder."""
        return self.warehouse / f"edition={edition}"

    @property
    def versions(self) -> Path:
        """Complete version folders live here; readers use the `edition=N` links."""
        return self.warehouse / "_versions"

    def run_dir(self, run_id: str) -> Path:
        """Artifacts of one run, published or not: Data Docs, quarantined rows."""
        return self.warehouse / "runs" / run_id

    def dataset(self, edition: int, name: str) -> Path:
        return self.edition_dir(edition) / f"{name}.parquet"

    def manifest(self, edition: int) -> Path:
        return self.edition_dir(edition) / "manifest.json"

    def relative_to_warehouse(self, path: Path) -> str:
        """A warehouse path as the manifest records it (relative, so the warehouse can move)."""
        return path.resolve().relative_to(self.warehouse.resolve()).as_posix()

    def relative(self, path: Path) -> str:
        """A path as users see it in messages: relative to the raw folder's parent."""
        try:
            return path.resolve().relative_to(self.raw.resolve().parent).as_posix()
        except ValueError:
            return path.as_posix()
