"""CSV and XLSX exports that stream: memory stays flat however many rows there are.

Callers pass amounts as :class:`~decimal.Decimal` (``Money.amount``) or ``int`` — these
are written as numbers. Floats are refused. Every other value is text, and text that a
spreadsheet would run as a formula gets a leading apostrophe (CSV/formula injection).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, BinaryIO

BOM = "\ufeff"
ROWS_PER_CHUNK = 100
#: Characters XML 1.0 cannot hold (openpyxl's own ILLEGAL_CHARACTERS_RE). openpyxl is
#: imported only when a workbook is written: it adds ~19 MB to every process that loads it.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")

#: Excel keeps 15 significant digits; more would be silently changed by it (and openpyxl
#: writes numbers through ``"%.16g"``), so such amounts are refused rather than altered.
MAX_DIGITS = 15
#: What OWASP lists as formula triggers: = + - @ tab and carriage return.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SHEET_TITLE_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})

Cell = str | int | Decimal | date | datetime | None


def neutralise(text: str) -> str:
    """Prefix text that a spreadsheet would evaluate with an apostrophe."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def iter_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[str]:
    """Yield CSV text: the BOM and header first, then one chunk per 100 rows.

    Encode the chunks as UTF-8; the BOM makes spreadsheet programs read Khmer correctly.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(str(h)) for h in header])
    yield BOM + _drain(buffer)
    count = 0
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
        count += 1
        if count == ROWS_PER_CHUNK:
            yield _drain(buffer)
            count = 0
    if count:
        yield _drain(buffer)


def write_xlsx(
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    fileobj: BinaryIO,
    *,
    sheet_title: str,
) -> None:
    """Write an XLSX workbook of one sheet to *fileobj* in openpyxl's write-only mode.

    Decimals and ints become numbers (amounts keep their decimals in the number format),
    dates become dates, text is kept as text. Aware datetimes are written in UTC.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(sheet_title))
    sheet.freeze_panes = "A2"
    for index, name in enumerate(header):
        sheet.column_dimensions[get_column_letter(index + 1)].width = max(
            12, min(len(str(name)) + 4, 60)
        )
    bold = Font(bold=True)
    header_cells = []
    for name in header:
        cell = _write_only_cell(sheet, _xlsx_text(str(name)))
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    try:
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value) for value in row])
    except BaseException:
        # openpyxl streams rows into a temporary file; finish and remove it, or it stays
        # on disk and its generator complains when garbage-collected.
        with contextlib.suppress(Exception):
            sheet.close()
            sheet._writer.cleanup()
        raise
    workbook.save(fileobj)


# --- helpers ------------------------------------------------------------------------


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _csv_cell(value: Cell) -> str | int:
    if value is None:
        return ""
    if isinstance(value, bool):
        return neutralise(str(value))
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return format(_check_decimal(value), "f")  # never "1E+3"
    if isinstance(value, float):
        raise TypeError("floats are not accepted in exports: pass Decimal (Money.amount)")
    if isinstance(value, datetime):
        return _naive_utc(value).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(str(value))


def _write_only_cell(sheet: Any, value):
    from openpyxl.cell import WriteOnlyCell

    return WriteOnlyCell(sheet, value=value)


def _xlsx_cell(sheet: Any, value: Cell) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return _xlsx_text(str(value))
    if isinstance(value, int):
        cell = _write_only_cell(sheet, value)
        cell.number_format = "0"
        return cell
    if isinstance(value, Decimal):
        value = _check_decimal(value)
        cell = _write_only_cell(sheet, value)
        decimals = max(0, -int(value.as_tuple().exponent))
        cell.number_format = "#,##0" + ("." + "0" * decimals if decimals else "")
        return cell
    if isinstance(value, float):
        raise TypeError("floats are not accepted in exports: pass Decimal (Money.amount)")
    if isinstance(value, datetime):
        cell = _write_only_cell(sheet, _naive_utc(value))
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    if isinstance(value, date):
        cell = _write_only_cell(sheet, value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return _xlsx_text(str(value))


def _xlsx_text(text: str) -> str:
    # openpyxl stores a str starting with "=" as a formula; after neutralise() none does,
    # so every str is written as text. Control characters are invalid in XLSX: dropped.
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", text))


def _check_decimal(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError(f"cannot export {value}")
    if len(value.as_tuple().digits) > MAX_DIGITS:
        raise ValueError(f"{value} has more than {MAX_DIGITS} significant digits")
    return value


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _sheet_title(title: str) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, never cut inside a cluster."""
    title = ILLEGAL_CHARACTERS_RE.sub("", title.translate(SHEET_TITLE_FORBIDDEN))
    title = " ".join(title.split()).strip("'")
    if len(title) > 31:
        cut = 31
        # Step back while the cut would leave a combining mark (or a consonant that a
        # Khmer coeng stacks under) without its base: that shows as a dotted circle.
        while cut > 1 and (
            _is_mark(title[cut]) or title[cut - 1] == "\u17d2" or title[cut] == "\u200d"
        ):
            cut -= 1
        title = title[:cut].rstrip()
    return title or "Sheet"


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Mc", "Me")
