from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ceroc_donations.rendering.khmer import (
    ZWSP,
    format_date_en,
    format_date_km,
    insert_word_breaks,
    to_khmer_digits,
)

SENTENCE = "សូមថ្លែងអំណរគុណយ៉ាងជ្រាលជ្រៅចំពោះការគាំទ្ររបស់លោកអ្នក។"


def test_khmer_digits():
    assert to_khmer_digits("12") == "១២"
    assert to_khmer_digits("US$1,250.50") == "US$១,២៥០.៥០"


def test_format_date_km():
    assert format_date_km(date(2026, 11, 27)) == "ថ្ងៃទី២៧ ខែវិច្ឆិកា ឆ្នាំ២០២៦"
    assert format_date_km(date(2026, 1, 5)) == "ថ្ងៃទី៥ ខែមករា ឆ្នាំ២០២៦"
    assert format_date_km(date(2026, 11, 27), buddhist_era=True) == "ថ្ងៃទី២៧ ខែវិច្ឆិកា ព.ស.២៥៧០"


def test_format_date_en():
    assert format_date_en(date(2026, 11, 27)) == "27 November 2026"
    assert format_date_en(date(2014, 3, 9)) == "9 March 2014"


def test_word_breaks_between_words():
    broken = insert_word_breaks(SENTENCE)
    words = broken.split(ZWSP)
    assert words[:4] == ["សូម", "ថ្លែងអំណរគុណ", "យ៉ាង", "ជ្រាលជ្រៅ"]
    assert broken.replace(ZWSP, "") == SENTENCE
    assert len(words) >= 8


@pytest.mark.parametrize("text", ["ជាញឹកៗ", "ផ្សេងៗគ្នា", SENTENCE, "ចប់។ ហើយ៕", "រៀងរាល់ថ្ងៃៗ"])
def test_no_break_before_repetition_or_full_stop(text):
    broken = insert_word_breaks(text)
    for sign in "ៗ។៕":
        assert ZWSP + sign not in broken


@pytest.mark.parametrize("word", ["ស្រ្តី", "ខ្មែរ", "ប្រជាធិបតេយ្យ", "អ្នកស្រី", "ជ្រៅ", "ក្សត្រ"])
def test_never_inside_a_cluster(word):
    broken = insert_word_breaks(word + word)
    for i, char in enumerate(broken):
        if char == ZWSP:
            assert broken[i - 1] != "\u17d2"  # not after coeng
            assert not ("\u17b6" <= broken[i + 1] <= "\u17d3")  # not before a vowel/sign


def test_idempotent_and_english_untouched():
    mixed = f"Dear friends, {SENTENCE} CEROC 2026 — thank you!"
    once = insert_word_breaks(mixed)
    assert insert_word_breaks(once) == once
    assert once.startswith("Dear friends, ")
    assert once.endswith(" CEROC 2026 — thank you!")
    assert insert_word_breaks("Hello world, no Khmer here.") == "Hello world, no Khmer here."
    assert (
        ZWSP not in insert_word_breaks("a\u200bb") or insert_word_breaks("a\u200bb") == "a\u200bb"
    )


khmer_text = st.text(
    alphabet=st.sampled_from(list("កខគឃងចឆជញដណតថទធនបផពភមយរលវសហឡអាិីឹឺុូួើឿៀេែៃោៅំះ្ៗ។ ab1")),
    max_size=40,
)


@given(khmer_text)
def test_word_breaks_only_add_zwsp_and_are_idempotent(text):
    once = insert_word_breaks(text)
    assert once.replace(ZWSP, "") == text.replace(ZWSP, "")
    assert insert_word_breaks(once) == once
    assert ZWSP + ZWSP not in once
