"""LetterData + LetterTexts → HTML, and batches."""

from __future__ import annotations

import dataclasses
import pickle
from io import BytesIO

import pypdf
import pytest

from ceroc_donations.rendering import (
    LETTERS_DIR,
    Donor,
    LetterJob,
    LetterRenderer,
    LetterTexts,
    PlaceholderError,
    combine_pdfs,
    placeholder_values,
    render_batch,
    render_html,
)
from ceroc_donations.rendering.khmer import ZWSP
from tests.rendering_support import sample_letter, sample_statement


def plain(html: str) -> str:
    return html.replace(ZWSP, "")


def test_default_texts_load_and_validate():
    texts = LetterTexts.default()
    assert texts.org_name_km == "គណៈកម្មការដើម្បីសិទ្ធិបោះឆ្នោតរបស់ពលរដ្ឋខ្មែរនៅក្រៅប្រទេស"
    assert texts.org_name_en == "Commission for Election Rights of Overseas Cambodians"
    assert texts.problems() == {}
    assert (LETTERS_DIR / "texts" / "default.json").is_file()


def test_texts_pickle_for_worker_processes():
    texts = LetterTexts.default()
    assert pickle.loads(pickle.dumps(texts)) == texts


def test_bilingual_letter_content():
    html = plain(render_html(sample_letter()))
    assert '<html lang="km">' in html
    assert "លិខិតថ្លែងអំណរគុណលេខ ១២" in html and "Thank you letter 12" in html
    assert "C-2026-0012" in html
    assert "ថ្ងៃទី២៧ ខែវិច្ឆិកា ឆ្នាំ២០២៦" in html and "27 November 2026" in html
    assert "$400.00" in html and "៤០០.០០$" in html
    # A joint gift: both donors, the amount once per language.
    assert "CNRP Minnesota and IKA" in html
    assert "គណបក្សសង្គ្រោះជាតិ មីនីសូតា និង IKA" in html
    assert html.count("$400.00") == 2  # details and body of the English half
    assert "Visit of MP Mu Sochua to Minnesota" in html
    assert "This letter is not a tax receipt." in html
    body = html[html.index("<body") :]
    assert body.index("លិខិតថ្លែងអំណរគុណ") < body.index("Thank you letter 12")


def test_khmer_half_has_khmer_digits_and_word_breaks():
    html = render_html(sample_letter())
    km_half = html[html.index('<section class="half km"') : html.index('<section class="half en"')]
    start = html.index('<section class="half en"')
    en_half = html[start : html.index("</section>", start)]
    assert "១២" in km_half and "12" not in km_half.replace("C-2026-0012", "")
    assert ZWSP in km_half
    assert ZWSP not in en_half
    assert not any("០" <= c <= "៩" for c in en_half)


@pytest.mark.parametrize(("language", "shown", "hidden"), [
    ("km", "លិខិតថ្លែងអំណរគុណលេខ", "Thank you letter 12"),
    ("en", "Thank you letter 12", "លិខិតថ្លែងអំណរគុណលេខ"),
])  # fmt: skip
def test_single_language_hides_the_other_half(language, shown, hidden):
    html = plain(render_html(sample_letter(language=language)))
    body = html[html.index("<body") :]
    assert shown in body and hidden not in html
    assert f'<html lang="{language}">' in html


def test_not_tax_receipt_line_is_optional():
    html = render_html(sample_letter(not_tax_receipt=False))
    assert "not a tax receipt" not in html


def test_statement_lists_gifts_and_total():
    html = plain(render_html(sample_statement(), kind="statement"))
    assert "C-2026-0003" in html and "C-2026-0040" in html
    assert "CA$1,100.00" in html and "១,១០០.០០CA$" in html
    assert "Contributions in 2026" in html and "ប្រចាំឆ្នាំ២០២៦" in html


def test_missing_khmer_name_falls_back_to_latin():
    data = sample_letter(donors=(Donor("Janet Seng"),))
    assert placeholder_values(data)["donor_name_km"] == "Janet Seng"


def test_a_text_written_in_one_language_shows_in_both_halves():
    only_km = placeholder_values(sample_letter(occasion="", purpose=""))
    assert only_km["occasion"] == only_km["occasion_km"] != ""
    assert only_km["purpose"] == only_km["purpose_km"] != ""
    only_en = placeholder_values(sample_letter(occasion_km="", purpose_km=""))
    assert only_en["occasion_km"] == "Visit of MP Mu Sochua to Minnesota"
    english = plain(render_html(sample_letter(occasion="", language="en")))
    assert "ដំណើរទស្សនកិច្ចរបស់តំណាងរាស្ត្រ" in english


def test_board_texts_with_bad_placeholders_are_refused():
    texts = dataclasses.replace(LetterTexts.default(), greeting_en="Dear {donr_name},")
    assert "greeting_en" in texts.problems()
    with pytest.raises(PlaceholderError, match="Unknown placeholder"):
        render_html(sample_letter(), texts)


def test_letters_dir_is_configurable(tmp_path):
    (tmp_path / "texts").mkdir()
    for name in ("_base.html", "_macros.html", "statement.html", "letter.css"):
        (tmp_path / name).write_text((LETTERS_DIR / name).read_text(encoding="utf-8"))
    (tmp_path / "thank_you.html").write_text("{{ data.number }}|{{ values.donor_name_en }}")
    (tmp_path / "texts" / "default.json").write_text(
        (LETTERS_DIR / "texts" / "default.json").read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert render_html(sample_letter(), letters_dir=tmp_path) == "12|CNRP Minnesota and IKA"


def test_bad_data_is_refused():
    with pytest.raises(ValueError, match="language"):
        sample_letter(language="fr")
    with pytest.raises(ValueError, match="donor"):
        sample_letter(donors=())
    with pytest.raises(ValueError, match="kind"):
        render_html(sample_letter(), kind="invoice")


def _page_count(pdf: bytes) -> int:
    return len(pypdf.PdfReader(BytesIO(pdf)).pages)


def test_combine_starts_each_letter_on_a_new_page():
    renderer = LetterRenderer()
    documents = [renderer.letter_document(sample_letter(number=n)) for n in (1, 2)]
    documents.append(renderer.letter_document(sample_statement(), kind="statement"))
    combined = renderer.combine(documents)
    reader = pypdf.PdfReader(BytesIO(combined))
    assert len(reader.pages) == sum(len(d.pages) for d in documents) == 3
    assert "Thank you letter 2" in reader.pages[1].extract_text()
    assert _page_count(combine_pdfs([renderer.write(d) for d in documents])) == 3


def test_render_batch_in_workers_matches_in_process():
    texts = LetterTexts.default()
    jobs = [LetterJob(sample_letter(number=n), texts) for n in range(1, 4)]
    jobs.append(LetterJob(sample_statement(), texts, "statement"))
    seen, stats = [], {}
    pdfs = render_batch(jobs, workers=1, progress=lambda done, total: seen.append((done, total)),
                        stats=stats)  # fmt: skip
    assert seen[-1] == (4, 4)
    assert [_page_count(p) for p in pdfs] == [1, 1, 1, 1]
    assert "Thank you letter 3" in pypdf.PdfReader(BytesIO(pdfs[2])).pages[0].extract_text()
    assert len(stats) == 1 and all(kib > 0 for kib in stats.values())
    assert len(render_batch(jobs[:2], workers=0)) == 2
