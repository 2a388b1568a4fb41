"""Why one cell is not the number or the date its column expects.

`classify_number` and `classify_date` turn a bad cell ('1,234.5', '6.6 CNY', 'N/A',
'12/04/2019' ...) into a `Kind` and a message saying what to write instead. The loader calls
them only for the first bad cell of a column, so the pattern tables here cost nothing on the
happy path.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

import numpy as np
import pandas as pd

from tasks.quality.load_errors import Kind

_MISSING = {
    "na", "n/a", "n.a.", "n.a", "#n/a", "nil", "null", "none", "missing", "unknown",
    "-", "--", "---", "–", "—", "?", ".", "..", "...", "x",
}  # fmt: skip
_NON_FINITE = {"nan", "-nan", "+nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?P<sep>[,  '\u00a0\u202f\u2009])\d{3}(?:(?P=sep)\d{3})*(?:\.\d+)?")
_EURO_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
# A number with one short word or symbol before or after it ('see note 3' is just text).
_WITH_UNIT = re.compile(
    r"(?P<pre>[^\d\s+\-.,][^\d\s]{0,11})?\s*"  # 'USD ', '¥', 'RMB'
    r"(?P<num>[+-]?(?:\d[\d,.'\u00a0 ]*)?\d(?:\.\d+)?)"
    r"\s*(?P<post>[^\d\s][^\d\s]{0,11})?"  # ' CNY', '%', '万元', ' t/year'
)
_SPREADSHEET_ERRORS = {"#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!", "#error!", "#####"}


def classify_number(value: str, kind: str = "float") -> tuple[Kind, str]:
    """The kind of a cell that is not a valid number, and the message that says why."""
    whole = kind == "int"
    expected = "a whole number" if whole else "a number"
    found = f"expected {expected}, found {value!r}"
    empty_hint = "this column requires a value" if whole else "leave the cell empty for a missing value"
    low = value.casefold()
    if value == "":
        return Kind.EMPTY_CELL, f"expected {expected}, found an empty cell: this column requires a value"
    if low in _MISSING:
        return Kind.MISSING_MARKER, f"{found}: an explicit missing marker; {empty_hint}"
    if low in _NON_FINITE:
        return Kind.NOT_FINITE, f"expected a finite number, found {value!r}: not a value; {empty_hint}"
    if low in _SPREADSHEET_ERRORS:
        return Kind.NOT_A_NUMBER, f"{found}: a spreadsheet error value; fix the formula or enter the number"
    if m := _THOUSANDS.fullmatch(value):
        sep = {",": "','", "'": '"\'"'}.get(m["sep"], "a space")
        plain = re.sub(r"[,  '\u00a0\u202f\u2009]", "", value)
        comma = m["sep"] == "," and value.count(",") == 1 and "." not in value
        alternative = f" (or, if ',' is a decimal comma, {value.replace(',', '.')})" if comma else ""
        return Kind.THOUSANDS_SEPARATOR, f"{found}: {sep} groups thousands; write {plain}{alternative}"
    if _EURO_THOUSANDS.fullmatch(value):
        plain = value.replace(".", "").replace(",", ".")
        return (
            Kind.THOUSANDS_SEPARATOR,
            f"{found}: '.' groups thousands (and ',' is a decimal comma); write {plain}",
        )
    if _DECIMAL_COMMA.fullmatch(value):
        return (
            Kind.DECIMAL_COMMA,
            f"{found}: the decimal separator is the dot; write {value.replace(',', '.')}",
        )
    if (m := _WITH_UNIT.fullmatch(value)) and (m["pre"] or m["post"]):
        unit = " ".join(p.strip() for p in (m["pre"], m["post"]) if p)
        return Kind.UNIT_IN_CELL, (
            f"{found}: {unit!r} beside the number; write the bare number ({m['num'].strip()}) in the "
            "column's unit, with no units, currency or % in the cell"
        )
    folded = unicodedata.normalize("NFKC", value)
    if folded != value and not pd.isna(pd.to_numeric(folded, errors="coerce")):
        return Kind.NOT_A_NUMBER, f"{found}: full-width characters; write {folded}"
    number = pd.to_numeric(value, errors="coerce")
    if whole and not pd.isna(number) and np.isfinite(number):
        return Kind.NOT_AN_INTEGER, f"{found}: a fraction where a whole number is expected"
    return Kind.NOT_A_NUMBER, found


_YEAR_FIRST = (
    (r"(\d{4})/(\d{1,2})/(\d{1,2})", "YYYY/MM/DD"),
    (r"(\d{4})\.(\d{1,2})\.(\d{1,2})", "YYYY.MM.DD"),
    (r"(\d{4})(\d{2})(\d{2})", "YYYYMMDD"),
    (r"(\d{4})年(\d{1,2})月(\d{1,2})日", "YYYY年M月D日"),
)
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
)}  # fmt: skip


def classify_date(value: str, required: bool = True) -> tuple[Kind, str]:
    """The kind of a cell that is not a valid YYYY-MM-DD date, and the message that says why."""
    found = f"expected a date YYYY-MM-DD, found {value!r}"
    if value == "":
        return Kind.EMPTY_CELL, "expected a date YYYY-MM-DD, found an empty cell: this column requires a date"
    if value.casefold() in _MISSING:
        return (
            Kind.MISSING_MARKER,
            f"{found}: an explicit missing marker; "
            + ("this column requires a date" if required else "leave the cell empty instead"),
        )
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return Kind.INVALID_DATE, f"{found}: there is no such day"
    form, day = _date_form(value)
    if form is None:
        return Kind.DATE_FORMAT, found
    write = f"; write {day.isoformat()}" if isinstance(day, date) else (f"; {day}" if day else "")
    return Kind.DATE_FORMAT, f"{found}, a date written {form}{write}"


def _date_form(value: str) -> tuple[str | None, date | str | None]:
    """(how the date is written, the date or a note) for the formats people use instead of ISO."""

    def make(y: str | int, mo: str | int, d: str | int) -> date | None:
        try:
            return date(int(y), int(mo), int(d))
        except ValueError:
            return None

    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?", value):
        return "with a time of day", make(*m.groups()[:3])
    for pattern, form in _YEAR_FIRST:
        if m := re.fullmatch(pattern, value):
            return form, make(*m.groups())
    if m := re.fullmatch(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})", value):
        a, sep, b, y = m.groups()
        if int(a) > 12:
            return f"DD{sep}MM{sep}YYYY", make(y, b, a)
        if int(b) > 12:
            return f"MM{sep}DD{sep}YYYY", make(y, a, b)
        first, second = make(y, b, a), make(y, a, b)
        if first and second and first != second:
            note = f"{first.isoformat()} or {second.isoformat()}? write it as YYYY-MM-DD"
            return f"DD{sep}MM{sep}YYYY or MM{sep}DD{sep}YYYY (ambiguous)", note
        return f"DD{sep}MM{sep}YYYY", first
    if m := re.fullmatch(r"(\d{1,2})[ -]([A-Za-z]{3,9})\.?[ ,-]*(\d{4})", value):
        month = _MONTHS.get(m[2][:3].casefold())
        return ("D Mon YYYY", make(m[3], month, m[1])) if month else (None, None)
    if m := re.fullmatch(r"([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})", value):
        month = _MONTHS.get(m[1][:3].casefold())
        return ("Mon D, YYYY", make(m[3], month, m[2])) if month else (None, None)
    if re.fullmatch(r"\d{5}(\.0+)?", value) and 20000 <= float(value) <= 80000:
        return "as a spreadsheet serial number", date(1899, 12, 30) + timedelta(days=int(float(value)))
    return None, None
