import pytest
from markupsafe import Markup

from ceroc_donations.rendering.placeholders import (
    PLACEHOLDERS,
    PlaceholderError,
    fill,
    fill_paragraphs,
    validate,
)

VALUES = {name: f"<{name}>" for name in PLACEHOLDERS}


def test_valid_text_has_no_problems():
    assert validate("Dear {donor_name_en}, thank you for {amount_en} on {date_en}.") == []
    assert validate("Braces: {{ and }} are fine.") == []


def test_unknown_placeholder_is_named_with_a_suggestion():
    (message,) = validate("Dear {donr_name_en},")
    assert message.startswith("Unknown placeholder {donr_name_en}")
    assert "{donor_name_en}" in message


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("Dear {donor_name_en", "Unclosed '{' at position 5"),
        ("Dear {donor_name_en {amount_en}", "Unclosed '{' at position 5"),
        ("Thanks } there", "Unmatched '}' at position 7"),
        ("Empty {} here", "Empty placeholder {}"),
        ("{Donor Name}", "Malformed placeholder {Donor Name}"),
        ("{{ 7*7 }} {x.__class__}", "Malformed placeholder {x.__class__}"),
    ],
)
def test_malformed_braces(text, start):
    problems = validate(text)
    assert problems and problems[0].startswith(start), problems


def test_fill_escapes_text_and_values():
    out = fill("<b>{donor_name_en}</b> {{literal}}", {"donor_name_en": "<script>alert(1)</script>"})
    assert isinstance(out, Markup)
    assert out == "&lt;b&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;/b&gt; {literal}"


def test_values_are_not_rescanned_nor_trusted():
    out = fill("{donor_name_en}", {"donor_name_en": Markup("<img src=x>{amount_en}")})
    assert out == "&lt;img src=x&gt;{amount_en}"


def test_jinja_syntax_is_just_text():
    assert fill("{{ 7*7 }}", {}) == "{ 7*7 }"
    assert validate("{% if 1 %}x{% endif %}")[0].startswith("Malformed placeholder {% if 1 %}")
    assert fill("{{% if 1 %}}x", {}) == "{% if 1 %}x"


def test_fill_refuses_bad_text_and_missing_values():
    with pytest.raises(PlaceholderError) as error:
        fill("{nope}", VALUES)
    assert "Unknown placeholder {nope}" in error.value.messages[0]
    with pytest.raises(PlaceholderError, match="No value for placeholder"):
        fill("{amount_en}", {})


def test_newlines_become_breaks_and_paragraphs():
    assert fill("one\ntwo", {}) == "one<br />\ntwo"
    assert fill_paragraphs("first\nline\n\n\nsecond\r\n \r\nthird", {}) == [
        "first<br />\nline",
        "second",
        "third",
    ]
