"""Write the corpus of malformed raw files that tests/test_malformed.py feeds to the loader.

    .venv/bin/python tests/malformed/generate.py

Each file is named `<contract>__<kind>[_<variant>].<ext>`: the raw input it pretends to be
(`cities`, `ceec_members`, `fx_rates`, `national_trade`, `trade` for a monthly trade file,
`indicators` for a file in raw/indicators/) and the `LoadError.kind` it must raise. The files
are committed; this script documents how their bytes were made (GBK, UTF-16, bare CR line
endings, XLSX workbooks) and rewrites them identically.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent

CITIES = "city_code,name_en,name_zh,province\n"
MEMBERS = "iso3,name,joined,left\n"
FX = "year,currency,cny_per_unit\n"
NATIONAL = "year,flow,value_cny\n"
TRADE = "period,reporter_city,partner,flow,hs2,value,currency\n"
INDICATORS = "year,city_code,indicator,value,source\n"

TRADE_ROWS = (
    "2018-05,NGB,POL,export,84,120340.50,USD\n"
    "2018-05,NGB,POL,import,08,8120.00,USD\n"
    "2018-05,NGB,CZE,export,85,99871.25,EUR\n"
)
INDICATOR_ROWS = (
    "2018,NGB,sister_cities,21,synthetic: foreign affairs offices (sample)\n"
    "2018,TSN,sister_cities,9,synthetic: foreign affairs offices (sample)\n"
)


def truncated_gzip(data: bytes) -> bytes:
    packed = gzip.compress(data, mtime=0)
    return packed[: len(packed) // 2]


def text_files() -> dict[str, bytes]:
    files = {
        # encoding: a Chinese Windows export (GBK); the header is ASCII, line 2 is not
        "cities__encoding.csv": (CITIES + "NGB,Ningbo,宁波,Zhejiang\nTSN,Tianjin,天津,Tianjin\n").encode(
            "gbk"
        ),
        # encoding: Excel's "Unicode Text" (UTF-16 with its byte-order mark)
        "cities__encoding_utf16.csv": (CITIES + "NGB,Ningbo,宁波,Zhejiang\n").encode("utf-16"),
        "cities__line_break_in_cell.csv": (
            CITIES
            + 'NGB,Ningbo,宁波,Zhejiang\nTSN,"Tianjin\n(Binhai)",天津,Tianjin\nSHA,Shanghai,上海,Shanghai\n'
        ).encode(),
        "ceec_members__date_format.csv": (
            MEMBERS + "ALB,Albania,2012-04-26,\nGRC,Greece,12/04/2019,\n"
        ).encode(),
        "ceec_members__invalid_date.csv": (
            MEMBERS + "ALB,Albania,2012-04-26,\nBIH,Bosnia and Herzegovina,2012-04-31,\n"
        ).encode(),
        "ceec_members__missing_marker_date.csv": (
            MEMBERS + "ALB,Albania,2012-04-26,\nBIH,Bosnia and Herzegovina,2012-04-26,N/A\n"
        ).encode(),
        "ceec_members__empty_cell.csv": (
            MEMBERS + "ALB,Albania,2012-04-26,\nBIH,Bosnia and Herzegovina,,\n"
        ).encode(),
        # delimiter: a European Excel's CSV: semicolons, decimal commas
        "fx_rates__delimiter.csv": b"year;currency;cny_per_unit\n2018;USD;6,617\n2018;EUR;7,8073\n",
        "fx_rates__renamed_columns.csv": b"year,currency,CNY per unit\n2018,USD,6.617\n2018,EUR,7.80\n",
        "fx_rates__ragged_row.csv": (FX + "2018,USD,6.617\n2018,EUR,7,8073\n2017,USD,6.752\n").encode(),
        "fx_rates__unit_in_cell.csv": (FX + "2018,USD,6.617\n2018,EUR,7.8073 CNY\n").encode(),
        "fx_rates__decimal_comma.csv": (FX + '2018,USD,"6,6174"\n').encode(),
        "fx_rates__empty_file.csv": b"",
        # line_endings: old Mac Excel's "CSV (Macintosh)"
        "fx_rates__line_endings.csv": (FX + "2018,USD,6.617\n2018,EUR,7.8073\n").replace("\n", "\r").encode(),
        "fx_rates__not_an_integer.csv": (FX + "2018,USD,6.617\n2018.5,EUR,7.8073\n").encode(),
        "national_trade__missing_columns.csv": b"year,flow\n2018,export\n2018,import\n",
        "national_trade__thousands_separator.csv": (
            NATIONAL + '2018,export,"388,900,941,000"\n2018,import,155096124400\n'
        ).encode(),
        "national_trade__blank_line.csv": (
            NATIONAL + "2018,export,388900941000\n\n2018,import,155096124400\n"
        ).encode(),
        "trade__delimiter_tab.csv": (TRADE + TRADE_ROWS).replace(",", "\t").encode(),
        "trade__duplicate_columns.csv": (
            b"period,reporter_city,partner,flow,hs2,value,value,currency\n2018-05,NGB,POL,export,84,1,1,USD\n"
        ),
        "trade__header_only.csv": TRADE.encode(),
        # truncated_line: the copy stopped in the middle of line 4
        "trade__truncated_line.csv": (TRADE + TRADE_ROWS + "2018-05,NGB,HUN,exp").encode(),
        # corrupt_file: a gzipped month whose copy stopped half-way
        "trade__corrupt_file.csv.gz": truncated_gzip((TRADE + TRADE_ROWS * 40).encode()),
        "trade__not_a_number.csv": (TRADE + TRADE_ROWS.replace("8120.00", "see note 3")).encode(),
        # blank_line: a blank spreadsheet row exported as a row of empty cells
        "trade__blank_line_cells.csv": (
            TRADE
            + "2018-05,NGB,POL,export,84,120340.50,USD\n,,,,,,\n2018-05,NGB,CZE,export,85,99871.25,EUR\n"
        ).encode(),
        "indicators__extra_columns.csv": (
            b"year,city_code,indicator,value,source,note\n"
            b"2018,NGB,sister_cities,21,synthetic: foreign affairs offices (sample),checked\n"
        ),
        "indicators__not_finite.csv": (INDICATORS + INDICATOR_ROWS.replace(",9,", ",inf,")).encode(),
        "indicators__missing_marker.csv": (INDICATORS + INDICATOR_ROWS.replace(",21,", ",N/A,")).encode(),
        "indicators__empty_file_whitespace.csv": b"\n  \n",
        # not_csv: a workbook saved under a .csv name
        "indicators__not_csv.csv": xlsx([["year", "city_code", "indicator", "value", "source"]], []),
    }
    return files


def xlsx(rows: list[list[str]], merges: list[str], sheet: str = "Sheet1") -> bytes:
    """A minimal, valid XLSX workbook (inline strings) with `rows` and merged ranges `merges`."""

    def column(i: int) -> str:
        return chr(ord("A") + i)

    cells = "".join(
        f'<row r="{r}">'
        + "".join(
            f'<c r="{column(c)}{r}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
            for c, v in enumerate(row)
            if v
        )
        + "</row>"
        for r, row in enumerate(rows, start=1)
    )
    merged = (
        f'<mergeCells count="{len(merges)}">'
        + "".join(f'<mergeCell ref="{m}"/>' for m in merges)
        + "</mergeCells>"
        if merges
        else ""
    )
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<workbook xmlns="{main}" xmlns:r="{rel}">'
            f'<sheets><sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{main}">'
            f"<sheetData>{cells}</sheetData>{merged}</worksheet>"
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(2019, 6, 5, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            book.writestr(info, text)
    return buffer.getvalue()


def workbooks() -> dict[str, bytes]:
    data = [["2018", "NGB", "sister_cities", "21", "synthetic: foreign affairs offices (sample)"]]
    return {
        # the indicator values as a workbook whose header cell "value" spans D1:E1 (over the source)
        "indicators__xlsx_merged_header.xlsx": xlsx(
            [["year", "city_code", "indicator", "value", ""], *data], ["D1:E1"], sheet="2018"
        ),
        # a clean workbook next to the CSVs: still not read, so refused
        "indicators__unsupported_file.xlsx": xlsx(
            [["year", "city_code", "indicator", "value", "source"], *data], []
        ),
    }


def main() -> None:
    for name, data in (text_files() | workbooks()).items():
        (HERE / name).write_bytes(data)
        print(f"{len(data):6d}  {name}")


if __name__ == "__main__":
    main()
