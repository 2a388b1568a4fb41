"""The DuckDB baseline of the trade ingest, and the checks that our aggregates are right.

`duckdb_baseline` is what a careful analyst would write without our pipeline: one DuckDB
query that reads the month files, converts to CNY and writes the yearly city aggregates,
with no validation. It sets the speed a validated ingest is measured against.

`pyarrow_floor` is the other lower bound: our own data path (pyarrow's CSV reader, pandas,
Parquet facts written per file by forked workers) with the validation taken out. It splits
the gap to DuckDB in two: what our tools cost against DuckDB's engine (floor / DuckDB), and
what validating costs on top of them (ours / floor).

`facts_city_year` and `rules_city_year` recompute the same aggregates independently, from
our clean facts and from the raw files minus the rows that break the suite's rules, so the
benchmark can say whether the ingest's `city_year.parquet` is right, not only fast.

Nothing is imported at module level but the standard library: each side runs in a fresh
process and imports what it needs (duckdb, or pandas and pyarrow), nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.warehouse.catalog import Catalog

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

TRADE_TYPES = {
    "period": "VARCHAR",
    "reporter_city": "VARCHAR",
    "partner": "VARCHAR",
    "flow": "VARCHAR",
    "hs2": "VARCHAR",
    "value": "DOUBLE",
    "currency": "VARCHAR",
}
FX_TYPES = {"year": "BIGINT", "currency": "VARCHAR", "cny_per_unit": "DOUBLE"}
CITY_YEAR_COLUMNS = ["year", "city_code", "exports_cny", "imports_cny", "partner_countries"]

# Records with `year`, `city_code`, `flow`, `partner`, `value_cny` -> the yearly city aggregate.
_AGGREGATE = """
    SELECT year, city_code,
           coalesce(sum(value_cny) FILTER (WHERE flow = 'export'), 0.0) AS exports_cny,
           coalesce(sum(value_cny) FILTER (WHERE flow = 'import'), 0.0) AS imports_cny,
           count(DISTINCT partner) FILTER (WHERE value_cny > 0) AS partner_countries,
           count(*) AS records
    FROM ({records})
    GROUP BY year, city_code
"""


def trade_files(raw_dir: Path, years: Iterable[int] | None = None) -> list[Path]:
    """The CSV month files (`.csv`, `.csv.gz`) of `years` (every year folder when None): the
    baselines read CSV only."""
    catalog = Catalog(raw=Path(raw_dir))
    chosen = catalog.trade_years() if years is None else years
    return [p for y in chosen for p in catalog.trade_files(y) if p.name.lower().endswith((".csv", ".csv.gz"))]


def duckdb_baseline(
    raw_dir: Path, out_dir: Path, threads: int | None = None, years: Iterable[int] | None = None
) -> int:
    """Write out_dir/city_year.parquet from the raw CSVs in one DuckDB pass; return the rows read.

    No validation: every row counts, bad ones included (a currency without a rate adds
    nothing, as its value has no CNY equivalent).
    """
    files = trade_files(raw_dir, years)
    if not files:
        raise FileNotFoundError(f"no trade files in {Catalog(raw=Path(raw_dir)).trade}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = _connect(threads)
    con.execute(
        "CREATE TEMP TABLE city_year AS "
        + _AGGREGATE.format(records=_raw_records(files, Catalog(raw=Path(raw_dir)).fx_rates))
    )
    target = _sql_text(str(out_dir / "city_year.parquet"))
    con.execute(
        f"COPY (SELECT {', '.join(CITY_YEAR_COLUMNS)} FROM city_year ORDER BY year, city_code) "
        f"TO {target} (FORMAT parquet)"
    )
    return int(con.execute("SELECT coalesce(sum(records), 0) FROM city_year").fetchall()[0][0])


def pyarrow_floor(raw_dir: Path, out_dir: Path, years: Iterable[int] | None = None, workers: int = 2) -> int:
    """Our data path, unvalidated: write out_dir/facts/ and out_dir/city_year.parquet; return the rows read.

    Each month file is read with pyarrow (text as dictionaries), converted to CNY, written
    whole as Parquet facts and aggregated, in `workers` forked processes as our ingest does,
    so that ours / floor is what validation costs and floor / DuckDB what our tools cost. Like
    `duckdb_baseline`, every row counts (no rate: `value_cny` is null and adds nothing).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = trade_files(raw_dir, years)
    if not files:
        raise FileNotFoundError(f"no trade files in {Catalog(raw=Path(raw_dir)).trade}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rates = _floor_rates(Catalog(raw=Path(raw_dir)).fx_rates)
    jobs = [(f, rates, out_dir / "facts") for f in files]
    if workers <= 1 or len(files) <= 1:
        parts = [_floor_file(*job, threads=True) for job in jobs]
    else:
        # Forked like our ingest's workers; one reader thread each, so N processes use N cores.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(files)), mp_context=context) as pool:
            parts = list(pool.map(_floor_file, *zip(*jobs, strict=True)))
    city_year = _floor_city_year(pd.concat(parts, ignore_index=True))
    table = pa.Table.from_pandas(city_year[CITY_YEAR_COLUMNS], preserve_index=False)
    pq.write_table(table, out_dir / "city_year.parquet")
    return int(city_year["records"].sum())


def _floor_rates(fx_path: Path) -> dict[tuple[int, str], float]:
    """(year, currency) -> CNY per unit, CNY at 1 in every year on file (as `_raw_records`)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {"year": pa.int64(), "currency": pa.string(), "cny_per_unit": pa.float64()}
    fx = pacsv.read_csv(
        fx_path,
        read_options=pacsv.ReadOptions(use_threads=False),  # no Arrow threads before the fork
        convert_options=pacsv.ConvertOptions(column_types=types, include_columns=list(types)),
    ).to_pydict()
    rows = zip(fx["year"], fx["currency"], fx["cny_per_unit"], strict=True)
    rates = {(y, c): r for y, c, r in rows if c != "CNY" and y is not None and r is not None}
    return rates | {(y, "CNY"): 1.0 for y in fx["year"] if y is not None}


def _floor_file(
    path: Path, rates: dict[tuple[int, str], float], facts_dir: Path, threads: bool = False
) -> pd.DataFrame:
    """One month file of the floor: read, CNY, facts written, (year, city, flow, partner) sums."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    text = pa.dictionary(pa.int32(), pa.string())
    types = {c: pa.float64() if t == "DOUBLE" else text for c, t in TRADE_TYPES.items()}
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=threads),
        convert_options=pacsv.ConvertOptions(
            column_types=types, include_columns=list(types), null_values=[""], strings_can_be_null=True
        ),  # empty cells are null, as in DuckDB's read_csv
    )
    frame = table.to_pandas()  # text as categories: the rate is looked up once per distinct pair
    period, currency = frame["period"].cat, frame["currency"].cat
    years = pd.to_numeric(period.categories.str[:4], errors="coerce").to_numpy(dtype="float64")
    per_pair = np.full((len(years) + 1, len(currency.categories) + 1), np.nan)  # last: a null code
    for p, year in enumerate(years):
        for c, code in enumerate(currency.categories):
            per_pair[p, c] = np.nan if np.isnan(year) else rates.get((int(year), code), np.nan)
    rate = per_pair[period.codes.to_numpy(), currency.codes.to_numpy()]
    value_cny = frame["value"].to_numpy(dtype="float64", na_value=np.nan) * rate

    # The facts as ours writes them (its FACT_SCHEMA), all rows, in the file's month.
    year, month = path.name[:4], path.name[5:7]  # trade_files lists only YYYY-MM month files
    source = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(len(frame), dtype="int32")), pa.array([path.name], pa.string())
    )
    facts = (
        table.append_column("cny_per_unit", pa.array(rate, pa.float64(), from_pandas=True))
        .append_column("value_cny", pa.array(value_cny, pa.float64(), from_pandas=True))
        .append_column("source_file", source)
        .append_column("source_line", pa.array(np.arange(2, len(frame) + 2, dtype="int64")))
    )
    target = facts_dir / f"year={year}" / f"month={month}" / f"{path.name}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    # As ours writes them: dictionary pages for the text only (cheaper than for every column).
    text_columns = [f.name for f in facts.schema if pa.types.is_dictionary(f.type)]
    pq.write_table(facts, target, compression="snappy", use_dictionary=text_columns)

    year = pd.Series(np.append(years, np.nan)[period.codes.to_numpy()], name="year", dtype="Int64")
    keys = [year, frame["reporter_city"].rename("city_code"), frame["flow"], frame["partner"]]
    sums = pd.DataFrame({"value_cny": value_cny, "rows": 1, "positive_rows": (value_cny > 0).astype("int64")})
    out = sums.groupby(keys, observed=True, dropna=False, sort=False).sum().reset_index()
    return out.astype({"city_code": "str", "flow": "str", "partner": "str"})


def _floor_city_year(parts: pd.DataFrame) -> pd.DataFrame:
    """The per-file sums as `_AGGREGATE` has them: exports, imports, partners with a positive
    value (null partners not counted, as count DISTINCT), `records` = every row read."""
    key = ["year", "city_code"]
    value = parts["value_cny"]
    sums = parts[key].assign(
        exports_cny=value.where(parts["flow"] == "export", 0.0),
        imports_cny=value.where(parts["flow"] == "import", 0.0),
        records=parts["rows"],
    )
    out = sums.groupby(key, dropna=False, sort=True).sum()
    positive = parts[parts["positive_rows"] > 0]
    partners = positive.groupby(key, dropna=False)["partner"].nunique()
    out["partner_countries"] = partners.reindex(out.index, fill_value=0).astype("int64")
    out = out.reset_index()
    return out if out["year"].isna().any() else out.astype({"year": "int64"})  # BIGINT, as DuckDB's


def facts_city_year(facts_dir: Path, threads: int | None = None) -> pd.DataFrame:
    """The yearly city aggregate recomputed from clean facts (Parquet with `period`, `value_cny`)."""
    pattern = _sql_text(str(Path(facts_dir) / "**" / "*.parquet"))
    records = f"""
        SELECT CAST(substr(period, 1, 4) AS BIGINT) AS year, reporter_city AS city_code,
               flow, partner, value_cny
        FROM read_parquet({pattern}, hive_partitioning = false)
    """
    return _fetch(_connect(threads), _AGGREGATE.format(records=records))


def rules_city_year(
    raw_dir: Path,
    known_cities: Iterable[str],
    member_keys: Iterable[str],
    years: Iterable[int] | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """The yearly city aggregate of the raw rows that pass the trade_records suite, in SQL.

    The suite's row rules: a known city, a member partner that year, flow export/import, an
    HS chapter 01-97, a value >= 0, a currency with a rate that year, a key that appears
    once. Independent of our ingest, so the two can be compared. `records` counts the rows kept.
    """
    files = trade_files(raw_dir, years)
    con = _connect(threads)
    con.execute("CREATE TEMP TABLE cities (code VARCHAR)")
    con.executemany("INSERT INTO cities VALUES (?)", [[c] for c in known_cities])
    con.execute("CREATE TEMP TABLE members (member_key VARCHAR)")
    con.executemany("INSERT INTO members VALUES (?)", [[k] for k in member_keys])
    raw = _raw_records(files, Catalog(raw=Path(raw_dir)).fx_rates)
    records = f"""
        SELECT * FROM (
            SELECT *, count(*) OVER (PARTITION BY period, city_code, partner, flow, hs2) AS copies
            FROM ({raw})
        )
        WHERE copies = 1
          AND regexp_full_match(period, '[0-9]{{4}}-(0[1-9]|1[0-2])')
          AND city_code IN (SELECT code FROM cities)
          AND (CAST(year AS VARCHAR) || ':' || partner) IN (SELECT member_key FROM members)
          AND flow IN ('export', 'import')
          AND regexp_full_match(hs2, '[0-9]{{2}}') AND hs2 BETWEEN '01' AND '97'
          AND value >= 0
          AND cny_per_unit IS NOT NULL
    """
    return _fetch(con, _AGGREGATE.format(records=records))


def compare_city_year(ours: pd.DataFrame, theirs: pd.DataFrame, rtol: float = 1e-9) -> dict:
    """Whether two yearly city aggregates agree: same (year, city) rows, sums within `rtol`, same partners."""
    import numpy as np

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({"year": "int64", "city_code": "str"})
        return frame.set_index(["year", "city_code"])[CITY_YEAR_COLUMNS[2:]]

    a, b = keyed(ours), keyed(theirs)
    joined = a.join(b, how="outer", lsuffix="_a", rsuffix="_b")
    only = joined.filter(like="_a").isna().any(axis=1) | joined.filter(like="_b").isna().any(axis=1)
    both = joined[~only]
    worst = 0.0
    for column in ("exports_cny", "imports_cny"):
        x, y = both[f"{column}_a"].to_numpy(float), both[f"{column}_b"].to_numpy(float)
        scale = np.maximum(np.abs(x), np.abs(y))
        rel = np.where(scale > 0, np.abs(x - y) / np.where(scale > 0, scale, 1.0), 0.0)
        worst = max(worst, float(rel.max(initial=0.0)))
    partners = int((both["partner_countries_a"] != both["partner_countries_b"]).sum())
    unmatched = int(only.sum())
    return {
        "agree": bool(unmatched == 0 and partners == 0 and worst <= rtol),
        "rows": [len(a), len(b)],
        "unmatched_rows": unmatched,
        "max_relative_difference": worst,
        "partner_count_mismatches": partners,
        "rtol": rtol,
        "totals_cny": [float(f["exports_cny"].sum() + f["imports_cny"].sum()) for f in (a, b)],
    }


def _raw_records(files: list[Path], fx_path: Path) -> str:
    """SQL of the raw rows with `year`, `city_code`, `cny_per_unit` and `value_cny` (NULL without a rate)."""
    trade = _read_csv([str(f) for f in files], TRADE_TYPES)
    fx = _read_csv([str(fx_path)], FX_TYPES)
    return f"""
        SELECT t.period, t.reporter_city AS city_code, t.partner, t.flow, t.hs2, t.value, t.currency,
               t.year, r.cny_per_unit, t.value * r.cny_per_unit AS value_cny
        FROM (SELECT *, TRY_CAST(substr(period, 1, 4) AS BIGINT) AS year FROM {trade}) AS t
        LEFT JOIN (
            SELECT year, currency, cny_per_unit FROM {fx} WHERE currency <> 'CNY'
            UNION ALL
            SELECT DISTINCT year, 'CNY', 1.0 FROM {fx}
        ) AS r ON t.year = r.year AND t.currency = r.currency
    """


def _read_csv(paths: list[str], types: dict[str, str]) -> str:
    files = "[" + ", ".join(_sql_text(p) for p in paths) + "]"
    columns = "{" + ", ".join(f"{_sql_text(c)}: {_sql_text(t)}" for c, t in types.items()) + "}"
    return f"read_csv({files}, header = true, auto_detect = false, columns = {columns})"


def _connect(threads: int | None) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """A small result as pandas, through Arrow (DuckDB's .df() is slow on pandas 3)."""
    table = con.sql(f"SELECT * FROM ({sql}) ORDER BY year, city_code").to_arrow_table()
    return table.to_pandas()


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
