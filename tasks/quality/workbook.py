"""Excel workbooks where a CSV should be: is the header row of a sheet merged?

A workbook turns up in a raw folder (`tasks.quality.load.check_folder`) or saved under a .csv name
(`tasks.quality.diagnose.check_bytes`). A merged header is the usual reason someone could not export
it cleanly, so it gets its own error (`xlsx_merged_header`) naming the sheet and the ranges.
The XML is read with the standard library: no spreadsheet package is needed.
"""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree

from tasks.quality.load_errors import Kind, LoadError

_XL = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CELL = re.compile(r"([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?")


def xlsx_merged_header(data: bytes) -> list[tuple[str, int, list[str]]] | None:
    """[(sheet, header row, merged ranges in it)] of an XLSX; [] if none is merged, None if not an XLSX.

    Reads the workbook's XML with the standard library (no spreadsheet package needed). The
    header row of a sheet is its first row with a value; a merged range counts when it spans
    that row.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            if "xl/workbook.xml" not in book.namelist():
                return None
            strings = _shared_strings(book)
            relations = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
            targets = {r.get("Id"): r.get("Target", "") for r in relations.iter(f"{_PKG_REL}Relationship")}
            found = []
            for sheet in ElementTree.fromstring(book.read("xl/workbook.xml")).iter(f"{_XL}sheet"):
                target = targets.get(sheet.get(f"{_REL}id"), "")
                part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                root = ElementTree.fromstring(book.read(part))
                rows = [
                    int(r.get("r", 0))
                    for r in root.iter(f"{_XL}row")
                    if any(_cell_text(c, strings) for c in r)
                ]
                header = min(rows, default=1)
                ranges = []
                for merge in root.iter(f"{_XL}mergeCell"):
                    m = _CELL.fullmatch(merge.get("ref", ""))
                    if m and int(m[2]) <= header <= int(m[4] or m[2]):
                        ranges.append(merge.get("ref") + _range_label(root, m[1] + m[2], strings))
                if ranges:
                    found.append((sheet.get("name", "?"), header, ranges))
            return found
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, ValueError):
        return None


def _shared_strings(book: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in book.namelist():
        return []
    root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
    return ["".join(t.text or "" for t in si.iter(f"{_XL}t")) for si in root.iter(f"{_XL}si")]


def _cell_text(cell: ElementTree.Element, strings: list[str]) -> str:
    if cell.get("t") == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{_XL}t"))
    value = cell.find(f"{_XL}v")
    if value is None or value.text is None:
        return ""
    return strings[int(value.text)] if cell.get("t") == "s" else value.text


def _range_label(root: ElementTree.Element, ref: str, strings: list[str]) -> str:
    for cell in root.iter(f"{_XL}c"):
        if cell.get("r") == ref:
            text = _cell_text(cell, strings)
            return f" ({text!r})" if text else ""
    return ""


def merged_header_error(file: str, merged: list[tuple[str, int, list[str]]]) -> LoadError:
    sheet, row, ranges = merged[0]
    return LoadError(
        file,
        f"expected one header row of plain column names, found an Excel workbook whose header row "
        f"(sheet {sheet!r}, row {row}) has merged cells {', '.join(ranges)}: unmerge them, give every "
        "column its contract name, and export the sheet as 'CSV UTF-8 (Comma delimited)'",
        row,
        kind=Kind.XLSX_MERGED_HEADER,
    )
