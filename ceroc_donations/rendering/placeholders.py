"""Named placeholders in the letter texts that the board edits.

The board writes ``Thank you, {donor_name_en}, for {amount_en}.``; we never hand that
text to Jinja or :meth:`str.format` (both would let an editor reach Python objects).
Instead a tiny scanner splits it into literal text and known names, escapes both, and
joins them. ``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping

from markupsafe import Markup, escape


def N_(message: str) -> str:
    """Mark *message* for the catalogue; the letter-texts page translates it when shown."""
    return message


#: Every placeholder a text may use, with the help shown to editors.
PLACEHOLDERS: dict[str, str] = {
    "donor_name_en": N_("Donor name(s) in Latin script"),
    "donor_name_km": N_("Donor name(s) in Khmer script (Latin if unknown)"),
    "amount_en": N_("Amount in English, e.g. US$400.00"),
    "amount_km": N_("Amount with Khmer digits, e.g. US$៤០០.០០"),
    "date_en": N_("Date of the gift in English, e.g. 27 November 2026"),
    "date_km": N_("Date of the gift in Khmer"),
    "occasion": N_("Occasion in English (e.g. the visit of MP Mu Sochua)"),
    "occasion_km": N_("Occasion in Khmer (English if not given)"),
    "purpose": N_("Purpose of the gift in English"),
    "purpose_km": N_("Purpose of the gift in Khmer (English if not given)"),
    "letter_number": N_("Letter number, e.g. 12"),
    "letter_number_km": N_("Letter number with Khmer digits, e.g. ១២"),
    "reference": N_("Contribution reference"),
    "year": N_("Year of a yearly statement"),
    "year_km": N_("Year of a yearly statement with Khmer digits"),
}

_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
_TOKEN = re.compile(r"\{\{|\}\}|\{|\}")


class PlaceholderError(ValueError):
    """A letter text that cannot be filled; ``messages`` says why, for people."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


def _scan(text: str) -> Iterator[tuple[str, str, int]]:
    """Yield ``(kind, value, position)`` with kind ``text``, ``name`` or ``error``."""
    position = 0
    length = len(text)
    while position < length:
        match = _TOKEN.search(text, position)
        if match is None:
            yield "text", text[position:], position
            return
        if match.start() > position:
            yield "text", text[position : match.start()], position
        token = match.group()
        if token == "{{":
            yield "text", "{", match.start()
            position = match.end()
        elif token == "}}":
            yield "text", "}", match.start()
            position = match.end()
        elif token == "}":
            yield (
                "error",
                f"Unmatched '}}' at position {match.start()}: write '}}}}' for a brace.",
                match.start(),
            )
            position = match.end()
        else:  # a single "{"
            close = text.find("}", match.end())
            reopen = text.find("{", match.end())
            if close == -1 or (reopen != -1 and reopen < close):
                yield (
                    "error",
                    (
                        f"Unclosed '{{' at position {match.start()}: close it with '}}' "
                        "or write '{{' for a brace."
                    ),
                    match.start(),
                )
                position = match.end()
                continue
            name = text[match.end() : close]
            yield "name", name, match.start()
            position = close + 1


def _describe_unknown(name: str) -> str:
    shown = "{" + name + "}"
    if not _NAME.match(name):
        if not name.strip():
            return f"Empty placeholder {shown}: use one of {_names_list()}."
        return f"Malformed placeholder {shown}: names are lower-case letters, digits and '_'."
    close = difflib.get_close_matches(name, PLACEHOLDERS, n=1)
    hint = f" Did you mean {{{close[0]}}}?" if close else ""
    return f"Unknown placeholder {shown}:{hint} Use one of {_names_list()}."


def _names_list() -> str:
    return ", ".join("{" + name + "}" for name in PLACEHOLDERS)


def validate(text: str) -> list[str]:
    """Return messages for people about every problem in *text*; empty when it is fine."""
    problems: list[str] = []
    for kind, value, position in _scan(text or ""):
        if kind == "error":
            problems.append(value)
        elif kind == "name" and value not in PLACEHOLDERS:
            problems.append(_describe_unknown(value).replace(":", f" at position {position}:", 1))
    return problems


def used_names(text: str) -> set[str]:
    """The known placeholder names that *text* uses."""
    return {
        value for kind, value, _ in _scan(text or "") if kind == "name" and value in PLACEHOLDERS
    }


def _escape_lines(text: str) -> Markup:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup("<br />\n").join(escape(line) for line in lines)


def fill(text: str, values: Mapping[str, object]) -> Markup:
    """Fill one paragraph: escaped text with escaped *values* in its placeholders.

    A newline becomes ``<br />`` (self-closed: the letter stays well-formed XML for
    :mod:`.fastparse`). Raises :class:`PlaceholderError` if *text* does not :func:`validate`,
    or a placeholder it uses is missing from *values*.
    """
    problems = validate(text)
    missing = sorted(used_names(text) - set(values))
    problems += [f"No value for placeholder {{{name}}}." for name in missing]
    if problems:
        raise PlaceholderError(problems)
    parts: list[Markup] = []
    for kind, value, _ in _scan(text or ""):
        if kind == "text":
            parts.append(_escape_lines(value))
        else:
            # str() drops any Markup-ness: a value is always data, never HTML.
            parts.append(_escape_lines(str(values[value])))
    return Markup("").join(parts)


def split_paragraphs(text: str) -> list[str]:
    """Split a text on blank lines into paragraphs, dropping empty ones."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return [part.strip("\n") for part in re.split(r"\n[ \t]*\n", text) if part.strip()]


def fill_paragraphs(text: str, values: Mapping[str, object]) -> list[Markup]:
    """:func:`fill` each paragraph of *text* (paragraphs are separated by blank lines)."""
    return [fill(part, values) for part in split_paragraphs(text)]
