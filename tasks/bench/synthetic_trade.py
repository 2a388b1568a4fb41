"""Synthetic customs trade records of any size, in the raw contract's format, for benchmarks.

`generate` writes a complete raw folder (reference tables and one year of monthly trade
files) that the pipeline reads like real data: the shipped sample has 200,000 rows a year,
far too few to measure an ingest meant for tens of millions. The data are shaped like
customs exports, because the speed of reading, validating and aggregating them depends on
it: Zipf-like sizes of reporters, partners and HS chapters, log-normal values, mostly USD
with some CNY and EUR, rows sorted by reporter as a customs office writes them, and a small
share of rule breakers (below the per-file quarantine share, so a validated ingest
quarantines them and goes on).

Memory stays bounded whatever the size: one month is drawn at a time (numpy) and written in
slices (`pyarrow.csv`), so 50 M rows need a few hundred MB. The same seed gives the same bytes.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tasks.quality import load
from tasks.trade.membership import members_in
from tasks.warehouse.catalog import Catalog

SHIPPED = Catalog()  # the repo's raw/: its reference tables are copied, its trade files never touched
HS_CHAPTERS = [f"{c:02d}" for c in range(1, 98)]
FLOWS = ["export", "import"]
FLOW_WEIGHT = np.array([0.7, 0.3])
MONTH_WEIGHT = np.array([0.9, 0.7, 0.95, 1.0, 1.0, 1.0, 1.05, 1.05, 1.05, 1.1, 1.1, 1.2])
CURRENCY_SHARE = {"USD": 0.86, "CNY": 0.10, "EUR": 0.04}
# Distinct keys a month could hold / rows it holds: room for the weighted draw to stay skewed.
KEY_HEADROOM = 2.0
# Zipf exponents of reporter, partner and HS chapter sizes.
ZIPF = {"reporter": 1.1, "partner": 1.0, "hs2": 0.9}
# Rule breakers the trade_records suite catches, one rule each (in this order, round robin).
BAD_KINDS = ("negative_value", "unknown_city", "non_member_partner", "bad_hs2", "no_fx_rate")
UNKNOWN_CITY = "ZZZ"
BAD_HS2 = ("00", "99")
NO_RATE_CURRENCY = "GBP"
FALLBACK_NON_MEMBER = "DEU"
MANIFEST = ".generated.json"  # a dotfile: the data folders' checks ignore it
SLICE_ROWS = 250_000  # rows per write call: bounds the memory of the text columns (Arrow keeps its pool)


@dataclass
class GeneratedTrade:
    """What `generate` wrote: enough to check an ingest's counts against."""

    raw_dir: Path
    year: int
    rows: int
    seed: int
    bad_share: float
    bad_rows: int
    bad_by_kind: dict[str, int]
    reporters: int
    partners: list[str]
    files: list[Path] = field(default_factory=list)
    rows_by_file: list[int] = field(default_factory=list)
    bytes: int = 0

    def to_json(self) -> dict:
        out = asdict(self)
        out["raw_dir"] = str(self.raw_dir)
        out["files"] = [str(f) for f in self.files]
        return out

    @classmethod
    def from_json(cls, data: dict) -> GeneratedTrade:
        data = dict(data)
        data["raw_dir"] = Path(data["raw_dir"])
        data["files"] = [Path(f) for f in data["files"]]
        return cls(**data)


def generate(
    raw_dir: Path,
    rows: int,
    year: int = 2018,
    bad_share: float = 0.0002,
    seed: int = 0,
    gzip: bool = False,
) -> GeneratedTrade:
    """Write raw_dir/reference/*.csv and raw_dir/trade/{year}/{year}-MM.csv[.gz] with `rows` rows in all.

    The reference tables are the shipped ones, except cities.csv, which adds as many synthetic
    reporting units as the key (period, reporter, partner, flow, hs2) needs to stay unique.
    `round(rows * bad_share)` of the rows break one rule each (`BAD_KINDS`).
    """
    raw_dir = Path(raw_dir)
    if raw_dir.resolve() == SHIPPED.raw.resolve():
        raise ValueError(f"{raw_dir} is the shipped sample: generate into another folder")
    if rows < 12:
        raise ValueError(f"rows must be at least 12 (one a month), got {rows}")
    catalog = Catalog(raw=raw_dir)
    rng = np.random.default_rng(seed)

    members = load.read_csv(SHIPPED.ceec_members, load.CEEC_MEMBERS)
    fx = load.read_csv(SHIPPED.fx_rates, load.FX_RATES)
    partners = members_in(members, year)
    of_year = fx[fx["year"] == year]
    rates = {"CNY": 1.0} | dict(zip(of_year["currency"], of_year["cny_per_unit"], strict=True))
    currencies = [c for c in CURRENCY_SHARE if c in rates]
    if not partners or len(currencies) < 2:
        raise ValueError(f"{year}: the shipped reference tables have no members or no FX rates for that year")
    non_members = sorted(set(members["iso3"]) - set(partners)) or [FALLBACK_NON_MEMBER]

    month_rows = _split(rows, MONTH_WEIGHT)
    bad_rows = _split_bad(round(rows * bad_share), month_rows)
    keys_per_reporter = len(partners) * len(FLOWS) * len(HS_CHAPTERS)
    shipped_cities = load.read_csv(SHIPPED.cities, load.CITIES)[list(load.CITIES)]
    n_reporters = max(len(shipped_cities), math.ceil(KEY_HEADROOM * max(month_rows) / keys_per_reporter))
    cities = _cities(shipped_cities, n_reporters)

    reference = catalog.cities.parent
    reference.mkdir(parents=True, exist_ok=True)
    for source, target in [
        (SHIPPED.ceec_members, catalog.ceec_members),
        (SHIPPED.fx_rates, catalog.fx_rates),
        (SHIPPED.national_trade, catalog.national_trade),
    ]:
        shutil.copyfile(source, target)
    cities.to_csv(catalog.cities, index=False)

    shape = _Shape(
        reporter=_zipf(n_reporters, ZIPF["reporter"]),  # the shipped cities first: the largest
        partner=_zipf(len(partners), ZIPF["partner"])[rng.permutation(len(partners))],
        hs2=_zipf(len(HS_CHAPTERS), ZIPF["hs2"])[rng.permutation(len(HS_CHAPTERS))],
    )
    dictionaries = {
        "reporter_city": [*cities["city_code"], UNKNOWN_CITY],
        "partner": [*partners, non_members[0]],
        "flow": FLOWS,
        "hs2": [*HS_CHAPTERS, *BAD_HS2],
        "currency": [*currencies, NO_RATE_CURRENCY],
    }
    currency_p = np.array([CURRENCY_SHARE[c] for c in currencies])
    cny_per_unit = np.array([rates[c] for c in currencies])

    catalog = Catalog(raw=raw_dir)
    folder = catalog.trade_folder(year)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    result = GeneratedTrade(
        raw_dir=raw_dir, year=year, rows=rows, seed=seed, bad_share=bad_share,
        bad_rows=int(sum(bad_rows)), bad_by_kind=dict.fromkeys(BAD_KINDS, 0),
        reporters=n_reporters, partners=partners,
    )  # fmt: skip
    next_kind = 0
    for month, (n, n_bad) in enumerate(zip(month_rows, bad_rows, strict=True), start=1):
        codes = _draw_month(rng, shape, n, currency_p, cny_per_unit)
        next_kind = _break_rows(rng, codes, n_bad, next_kind, dictionaries, result.bad_by_kind)
        path = catalog.trade_file(year, month, ".csv.gz" if gzip else ".csv")
        _write(path, f"{year}-{month:02d}", codes, dictionaries, gzip)
        del codes  # before the next month is drawn
        result.files.append(path)
        result.rows_by_file.append(n)
        result.bytes += path.stat().st_size
    (raw_dir / MANIFEST).write_text(json.dumps(result.to_json(), indent=2))
    return result


def read_manifest(raw_dir: Path) -> GeneratedTrade | None:
    """What `generate` wrote into raw_dir, or None: lets a benchmark reuse a folder it generated before."""
    path = Path(raw_dir) / MANIFEST
    if not path.is_file():
        return None
    return GeneratedTrade.from_json(json.loads(path.read_text()))


@dataclass(frozen=True)
class _Shape:
    reporter: np.ndarray
    partner: np.ndarray
    hs2: np.ndarray


def _zipf(n: int, exponent: float) -> np.ndarray:
    return 1.0 / np.arange(1, n + 1, dtype="float64") ** exponent


def _split(total: int, weight: np.ndarray) -> list[int]:
    """`total` in whole parts proportional to `weight`, each at least 1 (largest remainder)."""
    rest = total - len(weight)
    share = rest * weight / weight.sum()
    parts = np.floor(share).astype("int64")
    order = np.argsort(-(share - parts), kind="stable")
    parts[order[: rest - parts.sum()]] += 1
    return (parts + 1).tolist()


def _split_bad(total: int, month_rows: list[int]) -> list[int]:
    """`total` bad rows over the months in proportion to their rows (largest remainder)."""
    sizes = np.array(month_rows, dtype="float64")
    share = total * sizes / sizes.sum()
    parts = np.floor(share).astype("int64")
    order = np.argsort(-(share - parts), kind="stable")
    parts[order[: total - parts.sum()]] += 1
    return np.minimum(parts, sizes.astype("int64")).tolist()


def _cities(shipped: pd.DataFrame, n: int) -> pd.DataFrame:
    """The shipped cities plus synthetic reporting units with three-letter codes (the cities suite's rule)."""
    taken = set(shipped["city_code"]) | {UNKNOWN_CITY}
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    free = ("".join(c) for c in itertools.product(letters, repeat=3) if "".join(c) not in taken)
    extra = list(itertools.islice(free, n - len(shipped)))
    if len(extra) < n - len(shipped):
        raise ValueError(f"{n} reporting units need more three-letter codes than exist")
    synthetic = pd.DataFrame(
        {
            "city_code": extra,
            "name_en": [f"Synthetic unit {i + 1}" for i in range(len(extra))],
            "name_zh": [f"合成单位{i + 1}" for i in range(len(extra))],
            "province": "Synthetic",
        }
    )
    return pd.concat([shipped, synthetic], ignore_index=True)


def _draw_month(
    rng: np.random.Generator, shape: _Shape, n: int, currency_p: np.ndarray, cny_per_unit: np.ndarray
) -> dict[str, np.ndarray]:
    """`n` distinct keys drawn by weight without replacement, with values and currencies.

    Efraimidis-Spirakis: each key gets Exp(1) / weight and the n smallest win, which is a
    weighted draw without replacement in one vectorised pass over the key space.
    """
    dims = (len(shape.reporter), len(shape.partner), len(FLOWS), len(shape.hs2))
    inner = (
        shape.partner[:, None, None] * FLOW_WEIGHT[None, :, None] * shape.hs2[None, None, :]
    ).astype("float32").ravel()  # fmt: skip
    score = rng.standard_exponential(dims[0] * inner.size, dtype="float32").reshape(dims[0], inner.size)
    score /= shape.reporter.astype("float32")[:, None]
    score /= inner[None, :]
    score = score.ravel()
    if n < score.size:
        # the n smallest scores, ties at the threshold taken in key order: exactly n keys
        threshold = np.partition(score, n - 1)[n - 1]
        keys = np.flatnonzero(score < threshold)
        ties = np.flatnonzero(score == threshold)[: n - keys.size]
        keys = np.sort(np.concatenate([keys, ties])) if ties.size else keys
    else:
        keys = np.arange(score.size)
    del score
    reporter, rest = np.divmod(keys.astype("int32"), np.int32(inner.size))
    partner, rest = np.divmod(rest, np.int32(dims[2] * dims[3]))
    flow, hs2 = np.divmod(rest, np.int32(dims[3]))
    del keys, rest
    # Bigger reporters and chapters trade bigger consignments; the rest is log-normal noise.
    log_cny = (
        11.0 + 0.25 * np.log(shape.reporter[reporter] * dims[0]) + 0.3 * np.log(shape.hs2[hs2] * dims[3])
        + rng.normal(0.0, 1.8, size=n)
    )  # fmt: skip
    currency = rng.choice(len(currency_p), size=n, p=currency_p / currency_p.sum()).astype("int32")
    value = np.round(np.exp(log_cny) / cny_per_unit[currency], 2)
    return {
        "reporter_city": reporter,
        "partner": partner,
        "flow": flow,
        "hs2": hs2,
        "value": value,
        "currency": currency,
    }


def _break_rows(
    rng: np.random.Generator,
    codes: dict[str, np.ndarray],
    n_bad: int,
    next_kind: int,
    dictionaries: dict[str, list[str]],
    counts: dict[str, int],
) -> int:
    """Make `n_bad` rows break one rule each, kinds in turn; returns the next kind to use.

    A bad code changes the row's key; two rows broken the same way could then share a key
    and also fail the uniqueness rule, so such a row gets a negative value instead (which
    keeps its key).
    """
    if n_bad == 0:
        return next_kind
    rows = np.sort(rng.choice(len(codes["value"]), size=n_bad, replace=False))
    kinds = [BAD_KINDS[(next_kind + i) % len(BAD_KINDS)] for i in range(n_bad)]
    new_keys: set[tuple] = set()
    for row, kind in zip(rows, kinds, strict=True):
        key = tuple(int(codes[c][row]) for c in ("reporter_city", "partner", "flow", "hs2"))
        if kind == "unknown_city":
            key = (len(dictionaries["reporter_city"]) - 1, *key[1:])
        elif kind == "non_member_partner":
            key = (key[0], len(dictionaries["partner"]) - 1, *key[2:])
        elif kind == "bad_hs2":
            key = (*key[:3], len(HS_CHAPTERS) + int(rng.integers(len(BAD_HS2))))
        if kind in ("unknown_city", "non_member_partner", "bad_hs2"):
            if key in new_keys:
                kind = "negative_value"
            else:
                new_keys.add(key)
                codes["reporter_city"][row], codes["partner"][row], _, codes["hs2"][row] = key
        if kind == "negative_value":
            codes["value"][row] = -max(abs(codes["value"][row]), 1.0)
        elif kind == "no_fx_rate":
            codes["currency"][row] = len(dictionaries["currency"]) - 1
        counts[kind] += 1
    return next_kind + n_bad


def _write(
    path: Path, period: str, codes: dict[str, np.ndarray], dictionaries: dict[str, list[str]], gzip: bool
) -> None:
    """One month as CSV: an unquoted header, then the rows in slices (values with 2 decimals)."""
    columns = list(load.TRADE_RECORDS)
    sink = pa.CompressedOutputStream(str(path), "gzip") if gzip else pa.OSFile(str(path), "wb")
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    pool = pa.system_memory_pool()  # hands memory back after each slice (the default pool keeps it)
    words = {column: pa.array(values) for column, values in dictionaries.items()}
    words["period"] = pa.array([period])
    n = len(codes["value"])
    with sink:
        sink.write((",".join(columns) + "\n").encode())
        for start in range(0, n, SLICE_ROWS):
            part = slice(start, min(start + SLICE_ROWS, n))
            size = part.stop - part.start
            arrays = {
                "period": pc.take(words["period"], np.zeros(size, dtype="int32"), memory_pool=pool),
                "value": pc.cast(pa.array(codes["value"][part]), pa.decimal128(18, 2), memory_pool=pool),
            }
            for column in dictionaries:
                arrays[column] = pc.take(words[column], codes[column][part], memory_pool=pool)
            pacsv.write_csv(pa.table({c: arrays[c] for c in columns}), sink, options, memory_pool=pool)
