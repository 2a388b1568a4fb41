"""Malformed raw files: the loader names the kind, file, line and column, and nothing is published.

The corpus is `tests/malformed/` (written by `tests/malformed/generate.py`): one small file per
failure kind, named `<contract>__<kind>[_<variant>]`. Each file is read by the loader alone,
then put in place of its raw input in a copy of the shipped sample and run through the declared
edition pipeline in memory (the steps the flow runs as tasks), which must stop with the same
error and leave the published warehouse byte-identical. One file goes through `coopindex run`
as a user runs it (a real process, a real Prefect flow run): the message printed once, exit 1.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tasks.edition.pipeline import run_edition
from tasks.quality import load
from tasks.quality.load import Kind, LoadError, check_folder, read_csv
from tasks.warehouse.catalog import PROJECT_ROOT, Catalog
from tests.conftest import coopindex_run, copy_warehouse, tree_digest

CORPUS = Path(__file__).resolve().parent / "malformed"

# contract in the file name -> (where the file goes in raw/, the loader's columns)
CONTRACTS = {
    "cities": ("reference/cities.csv", load.CITIES),
    "ceec_members": ("reference/ceec_members.csv", load.CEEC_MEMBERS),
    "fx_rates": ("reference/fx_rates.csv", load.FX_RATES),
    "national_trade": ("reference/national_trade.csv", load.NATIONAL_TRADE),
    "trade": ("trade/2018/2018-05.csv", load.TRADE_RECORDS),  # replaces one month of the edition year
    "indicators": ("indicators/{name}", load.INDICATOR_VALUES),  # added beside the shipped files
}


@dataclass(frozen=True)
class Case:
    name: str
    kind: Kind
    line: int | None
    column: str | None
    fragment: str

    @property
    def contract(self) -> str:
        return self.name.split("__")[0]

    @property
    def target(self) -> str:
        """The file's path inside raw/ (a gzipped month keeps its suffix)."""
        target = CONTRACTS[self.contract][0].format(name=self.name)
        return target + ".gz" if self.name.endswith(".csv.gz") else target

    @property
    def label(self) -> str:
        """How the edition names the file in its messages."""
        return f"raw/{self.target}"

    def __str__(self) -> str:
        return self.name


CASES = [
    Case(
        "cities__encoding.csv",
        Kind.ENCODING,
        2,
        "name_zh",
        "encoded in GBK/GB18030 (Chinese Windows): the cell reads '宁波'",
    ),
    Case("cities__encoding_utf16.csv", Kind.ENCODING, 1, None, "found UTF-16 text"),
    Case(
        "cities__line_break_in_cell.csv",
        Kind.LINE_BREAK_IN_CELL,
        3,
        "name_en",
        "quote that is not closed in 'TSN,\"Tianjin'",
    ),
    Case(
        "ceec_members__date_format.csv",
        Kind.DATE_FORMAT,
        3,
        "joined",
        "found '12/04/2019', a date written DD/MM/YYYY or MM/DD/YYYY",
    ),
    Case(
        "ceec_members__invalid_date.csv",
        Kind.INVALID_DATE,
        3,
        "joined",
        "found '2012-04-31': there is no such day",
    ),
    Case(
        "ceec_members__missing_marker_date.csv",
        Kind.MISSING_MARKER,
        3,
        "left",
        "found 'N/A': an explicit missing marker",
    ),
    Case(
        "ceec_members__empty_cell.csv",
        Kind.EMPTY_CELL,
        3,
        "joined",
        "found an empty cell: this column requires a date",
    ),
    Case("fx_rates__delimiter.csv", Kind.DELIMITER, 1, None, "separated by commas, found semicolons (';')"),
    Case(
        "fx_rates__renamed_columns.csv",
        Kind.RENAMED_COLUMNS,
        1,
        "CNY per unit",
        "'cny_per_unit' appears renamed to 'CNY per unit'",
    ),
    Case(
        "fx_rates__ragged_row.csv",
        Kind.RAGGED_ROW,
        3,
        None,
        "expected 3 cells as in the header, found 4: '2018,EUR,7,8073'",
    ),
    Case(
        "fx_rates__unit_in_cell.csv",
        Kind.UNIT_IN_CELL,
        3,
        "cny_per_unit",
        "found '7.8073 CNY': 'CNY' beside the number",
    ),
    Case(
        "fx_rates__decimal_comma.csv",
        Kind.DECIMAL_COMMA,
        2,
        "cny_per_unit",
        "the decimal separator is the dot; write 6.6174",
    ),
    Case("fx_rates__empty_file.csv", Kind.EMPTY_FILE, 1, None, "found an empty file (0 bytes)"),
    Case("fx_rates__line_endings.csv", Kind.LINE_ENDINGS, 1, None, "found lines ending in a bare CR"),
    Case(
        "fx_rates__not_an_integer.csv",
        Kind.NOT_AN_INTEGER,
        3,
        "year",
        "expected a whole number, found '2018.5'",
    ),
    Case(
        "national_trade__missing_columns.csv",
        Kind.MISSING_COLUMNS,
        1,
        "value_cny",
        "missing columns ['value_cny']",
    ),
    Case(
        "national_trade__thousands_separator.csv",
        Kind.THOUSANDS_SEPARATOR,
        2,
        "value_cny",
        "',' groups thousands; write 388900941000",
    ),
    Case("national_trade__blank_line.csv", Kind.BLANK_LINE, 3, None, "empty line: expected a data row"),
    Case("trade__delimiter_tab.csv", Kind.DELIMITER, 1, None, "found tabs"),
    Case(
        "trade__duplicate_columns.csv",
        Kind.DUPLICATE_COLUMNS,
        1,
        "value",
        "found 'value' 2 times in the header",
    ),
    Case("trade__header_only.csv", Kind.HEADER_ONLY, 2, None, "found only the header"),
    Case(
        "trade__truncated_line.csv",
        Kind.TRUNCATED_LINE,
        5,
        "flow",
        "last line '2018-05,NGB,HUN,exp', which has no final newline",
    ),
    Case(
        "trade__corrupt_file.csv.gz",
        Kind.CORRUPT_FILE,
        None,
        None,
        "found a truncated or corrupt gzip stream (",
    ),
    Case("trade__not_a_number.csv", Kind.NOT_A_NUMBER, 3, "value", "expected a number, found 'see note 3'"),
    Case("trade__blank_line_cells.csv", Kind.BLANK_LINE, 3, None, "a row whose cells are all empty"),
    Case("indicators__extra_columns.csv", Kind.EXTRA_COLUMNS, 1, "note", "unexpected columns ['note']"),
    Case("indicators__not_finite.csv", Kind.NOT_FINITE, 3, "value", "expected a finite number, found 'inf'"),
    Case(
        "indicators__missing_marker.csv",
        Kind.MISSING_MARKER,
        2,
        "value",
        "found 'N/A': an explicit missing marker",
    ),
    Case(
        "indicators__empty_file_whitespace.csv",
        Kind.EMPTY_FILE,
        1,
        None,
        "found an empty file (only whitespace)",
    ),
    Case(
        "indicators__not_csv.csv",
        Kind.NOT_CSV,
        None,
        None,
        "found an Excel workbook (XLSX) saved under a .csv name",
    ),
    Case(
        "indicators__xlsx_merged_header.xlsx",
        Kind.XLSX_MERGED_HEADER,
        1,
        None,
        "row 1) has merged cells D1:E1 ('value')",
    ),
    Case(
        "indicators__unsupported_file.xlsx", Kind.UNSUPPORTED_FILE, None, None, "found a spreadsheet workbook"
    ),
]


def read(case: Case, folder: Path = CORPUS) -> None:
    """What the edition does with the file: read it as its contract (a CSV) or list its folder."""
    if case.name.endswith((".csv", ".csv.gz")):
        read_csv(folder / case.name, CONTRACTS[case.contract][1], case.label)
    else:
        check_folder(folder, "raw/indicators")


def assert_error(error: LoadError, case: Case) -> None:
    assert (error.kind, error.file, error.line, error.column) == (
        case.kind,
        case.label,
        case.line,
        case.column,
    )
    assert case.fragment in str(error)
    assert str(error).startswith(case.label)


def test_the_corpus_has_one_case_per_file_and_every_kind():
    names = {p.name for p in CORPUS.iterdir() if p.suffix != ".py" and not p.name.startswith(".")}
    assert names == {c.name for c in CASES}
    for case in CASES:
        assert case.name.split("__")[1].startswith(case.kind.value), case.name
    assert len(CASES) >= 20
    # the parser's own errors are a fallback only; file permissions and links are not a file's
    # bytes (tests/test_faults.py)
    assert {c.kind for c in CASES} == set(Kind) - {Kind.CSV_SYNTAX, Kind.UNREADABLE_FILE, Kind.OUTSIDE_RAW}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_loader_names_kind_file_line_and_column(case, tmp_path):
    folder = CORPUS
    if not case.name.endswith(".csv"):  # a workbook is found by listing its folder, alone there
        folder = tmp_path
        shutil.copy(CORPUS / case.name, folder / case.name)
    with pytest.raises(LoadError) as error:
        read(case, folder)
    assert_error(error.value, case)


# --- the edition ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(published_2018, tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """A private copy of raw/ and a warehouse with edition 2018 published from raw/ (the same
    files), once per module."""
    base = tmp_path_factory.mktemp("malformed")
    raw = base / "raw"
    shutil.copytree(PROJECT_ROOT / "raw", raw)
    warehouse = copy_warehouse(published_2018[0], base / "warehouse")
    return raw, warehouse, tree_digest(warehouse)


@contextmanager
def in_place(case: Case, raw: Path) -> Iterator[None]:
    """The case's file in place of its raw input (or beside the indicator files), then put back."""
    target = raw / case.target
    original = target.read_bytes() if target.exists() else None
    plain = target.with_suffix("") if target.suffix == ".gz" else None  # the month's .csv steps aside
    aside = plain.read_bytes() if plain is not None and plain.exists() else None
    if aside is not None:
        plain.unlink()
    shutil.copy(CORPUS / case.name, target)
    try:
        yield
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_bytes(original)
        if aside is not None:
            plain.write_bytes(aside)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_edition_stops_and_the_warehouse_is_unchanged(case, published, tmp_path):
    """The whole declared pipeline, in memory: it stops at the step that reads the file."""
    raw, pristine, digest = published
    warehouse = copy_warehouse(pristine, tmp_path / "warehouse")  # one failure cannot spill over
    with in_place(case, raw), pytest.raises(LoadError) as error:
        run_edition(Catalog.at(raw, warehouse), 2018)
    assert_error(error.value, case)
    assert tree_digest(warehouse) == digest


FLOW_CASE = next(c for c in CASES if c.name == "indicators__not_finite.csv")  # read after 3 tasks ran


@pytest.mark.slow
def test_coopindex_run_says_where_once_exits_1_and_publishes_nothing(published, prefect_home, tmp_path):
    """`coopindex run` in its own process, with its own temporary Prefect server: a real flow run."""
    raw, pristine, digest = published
    warehouse = copy_warehouse(pristine, tmp_path / "warehouse")
    with pytest.raises(LoadError) as expected:
        read(FLOW_CASE)
    assert_error(expected.value, FLOW_CASE)
    with in_place(FLOW_CASE, raw):
        result = coopindex_run(raw, warehouse, prefect_home)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-4000:]
    assert "Beginning flow run" in result.stderr  # Prefect ran it
    # said once: Prefect's task, flow and final-state records repeat it in the UI, not on the console
    assert output.count(str(expected.value).splitlines()[0]) == 1, output[-4000:]
    assert result.stdout.startswith("error: edition 2018 was not published: the inputs have problems")
    assert "Traceback" not in output, output[-4000:]
    assert tree_digest(warehouse) == digest


# --- good files that look unusual ------------------------------------------------------------


def test_crlf_line_endings_read_like_lf_with_the_same_line_numbers(tmp_path):
    rows = ["year,currency,cny_per_unit", "2018,USD,6.617", "2018,EUR,7.8073", "2017,USD,6.752"]
    lf, crlf = tmp_path / "lf.csv", tmp_path / "crlf.csv"
    lf.write_bytes(("\n".join(rows) + "\n").encode())
    crlf.write_bytes(("\r\n".join(rows) + "\r\n").encode())
    pd.testing.assert_frame_equal(read_csv(lf, load.FX_RATES, "x"), read_csv(crlf, load.FX_RATES, "x"))
    assert read_csv(crlf, load.FX_RATES)["source_line"].tolist() == [2, 3, 4]
    # and a bad cell is found on the same line either way
    bad = tmp_path / "bad.csv"
    bad.write_bytes("\r\n".join([*rows[:2], "2018,EUR,7.8 CNY", rows[3]]).encode())  # no final newline either
    with pytest.raises(LoadError) as error:
        read_csv(bad, load.FX_RATES, "bad.csv")
    assert (error.value.kind, error.value.line, error.value.column) == (Kind.UNIT_IN_CELL, 3, "cny_per_unit")


def test_a_quoted_comma_in_a_city_name_is_one_cell(tmp_path):
    path = tmp_path / "cities.csv"
    path.write_text(
        'city_code,name_en,name_zh,province\nNGB,"Ningbo, Zhejiang",宁波,Zhejiang\n'
        'TSN,Tianjin,天津,"Tianjin"\n',
        encoding="utf-8",
    )
    frame = read_csv(path, load.CITIES)
    assert frame["name_en"].tolist() == ["Ningbo, Zhejiang", "Tianjin"]
    assert frame["province"].tolist() == ["Zhejiang", "Tianjin"]
    assert frame["source_line"].tolist() == [2, 3]


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    """Excel's 'CSV UTF-8' starts with a BOM: the contract tolerates it, the header reads as usual."""
    text = "city_code,name_en,name_zh,province\nNGB,Ningbo,宁波,Zhejiang\n"
    plain, bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_bytes(text.encode("utf-8"))
    bom.write_bytes(text.encode("utf-8-sig"))
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    pd.testing.assert_frame_equal(read_csv(plain, load.CITIES, "x"), read_csv(bom, load.CITIES, "x"))
    # a BOM and a bad cell: still the right line and column
    bom.write_bytes("year,currency,cny_per_unit\n2018,USD,N/A\n".encode("utf-8-sig"))
    with pytest.raises(LoadError) as error:
        read_csv(bom, load.FX_RATES)
    assert (error.value.kind, error.value.line, error.value.column) == (
        Kind.MISSING_MARKER,
        2,
        "cny_per_unit",
    )


def test_a_final_line_without_newline_and_trailing_empty_lines_are_fine(tmp_path):
    path = tmp_path / "fx.csv"
    path.write_bytes(b"year,currency,cny_per_unit\n2018,USD,6.617\n2018,EUR,7.8073")
    assert read_csv(path, load.FX_RATES)["cny_per_unit"].tolist() == [6.617, 7.8073]
    path.write_bytes(b"year,currency,cny_per_unit\n2018,USD,6.617\n\n\n")
    assert len(read_csv(path, load.FX_RATES)) == 1


def test_empty_number_cells_are_missing_values_not_errors(tmp_path):
    path = tmp_path / "values.csv"
    path.write_bytes(b"year,city_code,indicator,value,source\n2018,NGB,x,,s\n2018,TSN,x, 4 ,s\n")
    frame = read_csv(path, load.INDICATOR_VALUES)
    assert frame["value"].isna().tolist() == [True, False] and frame["value"].iloc[1] == 4.0


@pytest.mark.parametrize(
    ("cell", "kind", "says"),
    [
        ("1 234", Kind.THOUSANDS_SEPARATOR, "write 1234"),
        ("1'234.5", Kind.THOUSANDS_SEPARATOR, "write 1234.5"),
        ("1.234,5", Kind.THOUSANDS_SEPARATOR, "write 1234.5"),
        ("6,617", Kind.THOUSANDS_SEPARATOR, "(or, if ',' is a decimal comma, 6.617)"),
        ("12%", Kind.UNIT_IN_CELL, "'%' beside the number"),
        ("USD 5", Kind.UNIT_IN_CELL, "'USD' beside the number"),
        ("5万", Kind.UNIT_IN_CELL, "'万' beside the number"),
        ("NaN", Kind.NOT_FINITE, "found 'NaN'"),
        ("-inf", Kind.NOT_FINITE, "found '-inf'"),
        ("NA", Kind.MISSING_MARKER, "leave the cell empty"),
        ("-", Kind.MISSING_MARKER, "leave the cell empty"),
        ("#N/A", Kind.MISSING_MARKER, "leave the cell empty"),
        ("#DIV/0!", Kind.NOT_A_NUMBER, "a spreadsheet error value"),
        ("１２", Kind.NOT_A_NUMBER, "full-width characters; write 12"),
        ("abc", Kind.NOT_A_NUMBER, "found 'abc'"),
    ],
)
def test_a_bad_number_is_classified(cell, kind, says):
    found_kind, message = load.classify_number(cell)
    assert found_kind == kind and says in message


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("2019.04.12", "a date written YYYY.MM.DD; write 2019-04-12"),
        ("12 Apr 2019", "a date written D Mon YYYY; write 2019-04-12"),
        ("13/04/2019", "a date written DD/MM/YYYY; write 2019-04-13"),
        ("04/13/2019", "a date written MM/DD/YYYY; write 2019-04-13"),
        ("2019/04/12", "a date written YYYY/MM/DD; write 2019-04-12"),
        ("20190412", "a date written YYYYMMDD; write 2019-04-12"),
        ("43567", "a spreadsheet serial number; write 2019-04-12"),
        ("2019-04-12 00:00:00", "with a time of day; write 2019-04-12"),
        ("2019年4月12日", "write 2019-04-12"),
        ("soon", "found 'soon'"),
    ],
)
def test_a_date_in_another_format_says_which(cell, says):
    kind, message = load.classify_date(cell)
    assert kind == Kind.DATE_FORMAT and says in message


def test_the_first_bad_cell_of_the_file_is_reported_and_all_are_counted(tmp_path):
    path = tmp_path / "fx.csv"
    path.write_bytes(b"year,currency,cny_per_unit\n2018,USD,6.6 CNY\n2018x,EUR,7.8\n2017,USD,6.7 CNY\n")
    with pytest.raises(LoadError) as error:
        read_csv(path, load.FX_RATES)
    assert (error.value.line, error.value.column) == (2, "cny_per_unit")
    assert "(2 rows in all)" in str(error.value)


def test_check_folder_ignores_readme_dotfiles_and_folders_and_checks_names(tmp_path):
    for name in ("2018-01.csv", "README.md", ".DS_Store"):
        (tmp_path / name).write_text("x")
    (tmp_path / "old").mkdir()
    check_folder(tmp_path, "raw/trade/2018", pattern=r"2018-(0[1-9]|1[0-2])\.csv")
    (tmp_path / "2018-05 (copy).csv").write_text("x")
    with pytest.raises(LoadError) as error:
        check_folder(tmp_path, "raw/trade/2018", pattern=r"2018-(0[1-9]|1[0-2])\.csv")
    assert (
        error.value.kind == Kind.UNSUPPORTED_FILE and error.value.file == "raw/trade/2018/2018-05 (copy).csv"
    )
    (tmp_path / "2018-05 (copy).csv").unlink()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(LoadError, match="found a .txt file"):
        check_folder(tmp_path, "raw/trade/2018")
    check_folder(tmp_path / "missing", "raw/trade/2019")  # no folder: nothing to check


def test_a_load_error_survives_pickling():
    import pickle

    error = LoadError("raw/x.csv", "expected a number, found 'a'", 3, "value", kind=Kind.NOT_A_NUMBER)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.file, copy.line, copy.column, str(copy)) == (
        error.kind, error.file, error.line, error.column, str(error),
    )  # fmt: skip
