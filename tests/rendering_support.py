"""Shared helpers for the rendering tests: sample letters and PDF inspection."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from io import BytesIO

import pypdf
from pypdf.generic import ContentStream

from ceroc_donations.money import Money
from ceroc_donations.rendering import Donor, GiftLine, LetterData


def sample_letter(**changes) -> LetterData:
    """The seed's first letter: CNRP Minnesota and IKA, US$400."""
    values = dict(
        number=12,
        reference="C-2026-0012",
        issued_on=date(2026, 11, 27),
        received_on=date(2026, 11, 20),
        donors=(Donor("CNRP Minnesota", "គណបក្សសង្គ្រោះជាតិ មីនីសូតា"), Donor("IKA")),
        amount=Money(40000, "USD"),
        occasion="Visit of MP Mu Sochua to Minnesota",
        occasion_km="ដំណើរទស្សនកិច្ចរបស់តំណាងរាស្ត្រ មូរ សុខហួរ នៅរដ្ឋមីនីសូតា",
        purpose="Petition campaign for the right to vote",
        purpose_km="យុទ្ធនាការប្រមូលញត្តិដើម្បីសិទ្ធិបោះឆ្នោត",
    )
    values.update(changes)
    return LetterData(**values)


def sample_statement(**changes) -> LetterData:
    """A yearly statement for the seed's second donor, CA$700 + CA$400."""
    values = dict(
        number=13,
        reference="S-2026-0001",
        issued_on=date(2026, 12, 31),
        donors=(Donor("Khmer Youth Movement of New Market, Ontario", "ចលនាយុវជនខ្មែរ ញូម៉ាឃីត"),),
        amount=Money(110000, "CAD"),
        gifts=(
            GiftLine(date(2026, 3, 9), "C-2026-0003", Money(70000, "CAD")),
            GiftLine(date(2026, 8, 1), "C-2026-0040", Money(40000, "CAD")),
        ),
    )
    values.update(changes)
    return LetterData(**values)


def font_programs(pdf: bytes) -> dict[str, tuple[bytes, object]]:
    """BaseFont name (subset prefix removed) → (embedded font program, font dict)."""
    reader = pypdf.PdfReader(BytesIO(pdf))
    found = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            name = str(font["/BaseFont"]).lstrip("/").split("+", 1)[-1]
            found[name] = (descriptor["/FontFile2"].get_object().get_data(), descendant)
    return found


def glyph_runs(pdf: bytes) -> dict[str, list[int]]:
    """Glyph ids shown with each font (by BaseFont name, subset prefix removed), in order.

    WeasyPrint writes two-byte CIDs with ``/CIDToGIDMap /Identity`` and subsets with
    retained glyph ids, so these are glyph ids of the original font file.
    """
    reader = pypdf.PdfReader(BytesIO(pdf))
    runs: dict[str, list[int]] = defaultdict(list)
    for page in reader.pages:
        fonts = {
            key: str(value.get_object()["/BaseFont"]).lstrip("/").split("+", 1)[-1]
            for key, value in page["/Resources"]["/Font"].items()
        }
        current = None
        content = ContentStream(page.get_contents(), reader)
        for operands, operator in content.operations:
            if operator == b"Tf":
                current = fonts[operands[0]]
            elif operator in (b"Tj", b"TJ"):
                items = operands[0] if operator == b"TJ" else [operands[0]]
                for item in items:
                    if isinstance(item, bytes | str):
                        # pypdf may decode a hex string as text; its bytes are kept.
                        data = bytes(getattr(item, "original_bytes", item))
                        runs[current].extend(
                            int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)
                        )
    return dict(runs)


def sample_report(gifts: int = 40):
    """A year's transparency report without a database: three funds, *gifts* gifts."""
    from ceroc_donations.rendering import charts
    from ceroc_donations.rendering.report import (
        CategoryRow,
        ContributionRow,
        FundRow,
        ReportData,
    )

    donors = [("CNRP Minnesota", "គណបក្សសង្គ្រោះជាតិ មីនីសូតា"), ("Sok Dara", "សុខ ដារា"),
              ("Khmer Youth Movement of New Market, Ontario", "ចលនាយុវជនខ្មែរ ញូម៉ាឃីត")]  # fmt: skip
    funds = [("General", "ទូទៅ"), ("Promotion & petition collection", None),
             ("Petition campaign", "យុទ្ធនាការប្រមូលញត្តិ")]  # fmt: skip
    rows = []
    for i in range(gifts):
        name_en, name_km = donors[i % len(donors)]
        fund_en, fund_km = funds[i % len(funds)]
        amount = 2000 + 137 * i
        rows.append(ContributionRow(date(2025, 1 + i % 12, 1 + i % 28), f"C-2025-{i:04d}",
                                    name_en, name_km, fund_en, fund_km,
                                    Money(amount, "USD"), amount))  # fmt: skip
    total = sum(row.base_minor for row in rows)
    monthly = [charts.MonthlyFlow(date(2025, m, 1), total // 12, 5000, 10000 + m * 1000)
               for m in range(1, 13)]  # fmt: skip
    return ReportData(
        date(2025, 1, 1), date(2025, 12, 31), "USD", 10000, total, 60000,
        funds=[FundRow(en, km, 5000, total // 3, 20000) for en, km in funds],
        categories=[CategoryRow("printing", 40000, 3), CategoryRow("travel", 20000, 1)],
        monthly=monthly, contributions=rows, generated_on=date(2026, 1, 5),
    )  # fmt: skip
