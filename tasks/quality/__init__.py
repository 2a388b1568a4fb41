"""Data quality: contracts, malformed-file diagnosis, GX suites, quarantine and Data Docs.

Importing this package makes the first import of Great Expectations defer `scipy.stats`: GX
imports it as it loads, for KL-divergence and Kolmogorov-Smirnov expectations that no suite here
uses, which is ~0.7 s (about a third of `import great_expectations`) in every process that
validates: each run, ingest worker, backfill worker and Dask worker. Just before GX loads,
`scipy.stats` becomes a lazy module (the standard library's `importlib.util.LazyLoader` recipe)
that loads in full on its first use, as SALib's Sobol analysis makes in an edition's analyse
step. Nothing is imported until GX is: `coopindex show` and `runs` load no scipy.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys


class _DeferScipyStatsForGX(importlib.abc.MetaPathFinder):
    """Finds nothing; on the first import of GX it defers scipy.stats and leaves the path."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "great_expectations":
            sys.meta_path.remove(self)
            _defer_scipy_stats()
        return None


def _defer_scipy_stats() -> None:
    if "scipy.stats" in sys.modules or importlib.util.find_spec("scipy") is None:
        return
    import scipy

    spec = importlib.util.find_spec("scipy.stats")
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scipy.stats"] = module
    spec.loader.exec_module(module)
    # `from scipy import stats` (as GX writes it) then finds the attribute instead of importing.
    scipy.stats = module


if "great_expectations" not in sys.modules:
    sys.meta_path.insert(0, _DeferScipyStatsForGX())
