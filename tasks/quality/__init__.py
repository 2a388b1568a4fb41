"""Data quality: contracts, malformed-file diagnosis, GX suites, quarantine and Data Docs.

Every use of Great Expectations in the project goes through this package, so importing it first
defers `scipy.stats`: GX imports it as it loads, for KL-divergence and Kolmogorov-Smirnov
expectations that no suite here uses, which is ~0.7 s (about a third of `import
great_expectations`) in every process that validates: each run, ingest worker, backfill worker
and Dask worker. It becomes a lazy module (the standard library's `importlib.util.LazyLoader`
recipe) that loads in full on its first use, as SALib's Sobol analysis makes in an edition's
analyse step.
"""

from __future__ import annotations

import importlib.util
import sys


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


_defer_scipy_stats()
