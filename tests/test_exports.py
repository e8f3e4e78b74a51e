from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest

from ceroc_donations.ledger.exports import BOM, ROWS_PER_CHUNK, iter_csv, write_xlsx
from ceroc_donations.money import Money

KHMER = "លោក សុខ ចាន់ធី"
TRICKY = 'Phnom Penh, "Wat" Phnom\nline two\r\nline three'
HEADER = ["Date", "Donor", "Amount"]
INJECTIONS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","y")']


def read_csv(chunks) -> list[list[str]]:
    text = "".join(chunks)
    assert text.startswith(BOM) and text.count(BOM) == 1
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def test_bom_once_first_chunk_with_header():
    chunks = list(iter_csv(HEADER, [(date(2026, 1, 1), "x", Decimal("1.00"))] * 250))
    assert chunks[0] == BOM + "Date,Donor,Amount\r\n"
    assert not any(BOM in c for c in chunks[1:])
    assert [c.count("\r\n") for c in chunks[1:]] == [100, 100, 50]
    assert "".join(chunks).encode("utf-8").startswith(b"\xef\xbb\xbf")


def test_csv_round_trips_khmer_and_quoting():
    rows = [(date(2026, 11, 27), KHMER, Decimal("1250.50")), (None, TRICKY, 7)]
    assert read_csv(iter_csv(HEADER, rows)) == [
        HEADER,
        ["2026-11-27", KHMER, "1250.50"],
        ["", TRICKY, "7"],
    ]


def test_csv_formula_injection_neutralised():
    rows = [(text, Decimal("-5.00"), -3) for text in INJECTIONS] + [("a=b", "-", "")]
    parsed = read_csv(iter_csv(["=cmd|' /C calc'!A0", "b", "c"], rows))
    assert parsed[0][0] == "'=cmd|' /C calc'!A0"
    for text, row in zip(INJECTIONS, parsed[1:], strict=False):
        assert row == ["'" + text, "-5.00", "-3"]  # real numbers stay numbers
    assert parsed[-1] == ["a=b", "'-", ""]


def test_csv_numbers_and_dates_are_plain():
    rows = [(Decimal("1E+3"), Money(10, "USD").amount, datetime(2026, 1, 2, 10, 0, tzinfo=UTC))]
    assert read_csv(iter_csv(["a", "b", "c"], rows))[1] == ["1000", "0.10", "2026-01-02 10:00:00"]


@pytest.mark.parametrize("bad", [0.1, Decimal("NaN"), Decimal("Infinity")])
def test_csv_refuses_floats_and_non_finite(bad):
    with pytest.raises((TypeError, ValueError)):
        list(iter_csv(["a"], [(bad,)]))


def test_csv_streams_without_consuming_everything():
    consumed = 0

    def million_rows():
        nonlocal consumed
        for i in range(1_000_000):
            consumed += 1
            yield (date(2026, 1, 1), f"donor {i}", Decimal(i).scaleb(-2))

    chunks = iter_csv(HEADER, million_rows())
    assert next(chunks).startswith(BOM)
    assert consumed == 0
    second = next(chunks)
    assert second.count("\r\n") == ROWS_PER_CHUNK
    assert consumed == ROWS_PER_CHUNK


def xlsx_bytes(rows, header=HEADER, title="Ledger") -> bytes:
    out = io.BytesIO()
    write_xlsx(header, rows, out, sheet_title=title)
    return out.getvalue()


def test_xlsx_reads_back_typed_values():
    when = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    data = xlsx_bytes(
        [
            (date(2026, 11, 27), KHMER, Decimal("1250.50")),
            (when, TRICKY, 7),
            (None, "JPY", Money(500, "JPY").amount),
        ]
    )
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet.title == "Ledger"
    assert list(sheet.iter_rows(values_only=True)) == [
        tuple(HEADER),
        (datetime(2026, 11, 27), KHMER, 1250.5),
        # XML parsers normalise CR LF to LF: line breaks survive, their style does not.
        (datetime(2026, 3, 4, 5, 6), TRICKY.replace("\r\n", "\n"), 7),
        (None, "JPY", 500),
    ]
    assert sheet["A2"].is_date and sheet["A2"].number_format == "yyyy-mm-dd"
    assert sheet["C2"].number_format == "#,##0.00"
    assert sheet["C4"].number_format == "#,##0"
    assert sheet["A1"].font.b


def test_xlsx_decimal_sum_is_exact():
    data = xlsx_bytes([(date(2026, 1, 1), "x", Money(10, "USD").amount)] * 1000)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = ET.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    stored = [
        c.find(f"{ns}v").text
        for c in sheet.iter(f"{ns}c")
        if c.get("r", "").startswith("C") and c.get("r") != "C1"
    ]
    assert len(stored) == 1000
    assert sum(Decimal(v) for v in stored) == Decimal("100.00")
    values = openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(min_row=2, values_only=True)
    assert sum(Decimal(str(v[2])) for v in values) == Decimal("100.00")


def test_xlsx_formula_injection_neutralised():
    data = xlsx_bytes(
        [(text, Decimal("-5"), "ok\x07") for text in INJECTIONS], header=["=bad", "b", "c"]
    )
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c for c in cells if c.data_type == "f"]
    assert sheet["A1"].value == "'=bad"
    assert [sheet.cell(i + 2, 1).value for i in range(len(INJECTIONS))] == [
        "'" + t.replace("\r", "\n")
        for t in INJECTIONS  # XML turns a lone CR into LF
    ]
    assert sheet["B2"].value == -5 and sheet["C2"].value == "ok"


def test_xlsx_refuses_floats_and_excess_precision(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(TypeError):
        xlsx_bytes([(date(2026, 1, 1),), (0.1,)])
    with pytest.raises(ValueError):
        xlsx_bytes([(Decimal("1234567890123.4567"),)])
    assert list(tmp_path.iterdir()) == []  # openpyxl's temporary files were removed


def test_sheet_title_rules_and_khmer_clusters():
    title = "ក" * 29 + "ស្រុក"  # the 31st character is a subscript after coeng
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([], title=title))).active
    assert sheet.title == "ក" * 29
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([], title="a/b [c]: d?*"))).active
    assert sheet.title == "a b c d"
