"""Our letter HTML parsed by expat into the very tree tinyhtml5 builds, or not at all.

WeasyPrint parses HTML with tinyhtml5, a pure-Python HTML5 parser: 1.6–1.9 ms of a
letter's 55–65 ms of CPU, 0.1 s of the report of 1,000 gifts. Our designs
(``letters/*.html``) are written as well-formed XML that is also plain HTML (void elements
self-closed, no HTML-only entities, every text escaped), so expat, in C, reads them too, in
a tenth of the time. :func:`parse` builds the element tree from expat's events and gives it
only where it is *sure* tinyhtml5 2.1.0 would build the same tree (tag, attributes in their
order, text, tail, children); anything else gives ``None``, and :func:`html_document` then
lets WeasyPrint parse the string as it always has. So whatever the text, the document is
the same, and no error comes from here that WeasyPrint's own parsing would not raise.

``None`` for (each checked before or while expat reads):

* anything expat refuses: not well-formed XML, a character XML forbids (NUL and the other
  C0 controls but tab, LF and CR; U+FFFE, U+FFFF; a lone surrogate), an HTML-only entity
  such as ``&nbsp;``, ``]]>`` in text;
* comments, processing instructions, an XML declaration, CDATA sections, a byte-order
  mark, a doctype other than ``<!DOCTYPE html>`` (an internal subset, a public or system
  identifier);
* numeric character references that HTML maps elsewhere (``&#150;`` is U+2013 in HTML,
  U+0096 in XML) and a literal tab, CR or LF inside an attribute value (XML turns them into
  spaces, HTML keeps them);
* a document that is not ``<html>`` with exactly a ``<head>`` and a ``<body>``, any text
  but whitespace in ``<html>``, ``<head>`` and the table elements (HTML moves such text);
* an HTML element outside the short list below, or one where HTML would close or reopen
  elements by itself: a block inside ``<p>``, a heading inside a heading, ``<li>`` in
  ``<li>``, ``<dt>``/``<dd>`` in ``<dt>``/``<dd>``, a formatting element (``<a>``, ``<b>``…)
  inside one of its own name, table parts anywhere but in their place (``<tr>`` straight in
  ``<table>`` gets a ``<tbody>``), a ``<pre>`` whose text starts with a newline;
* a void element written ``<br></br>`` or a non-void HTML element written ``<div/>``
  (HTML ignores the slash there), an attribute name with an upper-case letter (HTML
  lower-cases it);
* in SVG: an element HTML takes back out of SVG (``<p>``, ``<span>``, ``<font>``…), a
  name or attribute whose case tinyhtml5 would set otherwise (``viewbox``), an element in
  ``<foreignObject>``, ``<desc>`` or ``<title>``.

What tinyhtml5 does and this module copies: whitespace between ``<html>`` and ``<head>`` is
dropped; whitespace after ``</body>`` (and after ``</html>``) goes to the end of the body;
``<svg>`` and everything in it are in the SVG namespace, with ``xmlns``, ``xlink:*`` and
``xml:*`` attributes in theirs. CR LF and lone CR are LF in both parsers.

:func:`html_document` builds the ``weasyprint.HTML`` object from the tree as WeasyPrint
70.0's ``HTML.__init__`` does after parsing; importing this module refuses any other
WeasyPrint or tinyhtml5 (:func:`check_pinned`).
"""

from __future__ import annotations

import inspect
import re
from functools import lru_cache
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement
from xml.parsers import expat

import cssselect2
import tinyhtml5
import weasyprint
import weasyprint.urls
from tinyhtml5.constants import (
    adjust_foreign_attributes,
    adjust_svg_attributes,
    ascii_upper_to_lower,
    namespaces,
)
from tinyhtml5.parser import InForeignContentPhase

from ceroc_donations.rendering import pins

__all__ = [
    "PATCHED", "TINYHTML5_VERSION", "WEASYPRINT_VERSION", "check_pinned", "html_document",
    "parse", "refusal", "source_digests",
]  # fmt: skip

#: The WeasyPrint release whose ``HTML.__init__`` :func:`html_document` repeats.
WEASYPRINT_VERSION = "70.0"
#: The tinyhtml5 release whose trees :func:`parse` builds (pinned in pyproject.toml).
TINYHTML5_VERSION = "2.1.0"

#: SHA-256 of the source of what :func:`html_document` stands in for, as WeasyPrint 70.0
#: ships it: ``HTML.__init__`` (parsing, base URL, wrapper) and ``select_source`` (what a
#: ``string`` source and its ``base_url`` become).
PATCHED = {
    "weasyprint.HTML.__init__": (
        "5f19f40b81837f87ae7af8e5c53d5f11e7c98ba245094a86d45f5f14d001b943"
    ),
    "weasyprint.urls.select_source": (
        "c82df7481cb3694cbf3d47242ec5b02473060a252f379319c779a3c8a25481c0"
    ),
}


def _sources() -> dict[str, str]:
    return {
        "weasyprint.HTML.__init__": inspect.getsource(weasyprint.HTML.__init__),
        "weasyprint.urls.select_source": inspect.getsource(weasyprint.urls.select_source),
    }


def source_digests() -> dict[str, str]:
    """SHA-256 of the source of each WeasyPrint function :func:`html_document` repeats."""
    return pins.digests(_sources())


def check_pinned() -> None:
    """Raise :class:`RuntimeError` unless WeasyPrint and tinyhtml5 are the releases this
    module was checked on (it runs when the module is imported)."""
    changed = pins.changed(PATCHED, source_digests())
    problems = []
    if weasyprint.__version__ != WEASYPRINT_VERSION or changed:
        problems.append(
            f"WeasyPrint {WEASYPRINT_VERSION}, found {weasyprint.__version__} "
            f"(changed: {', '.join(changed) or 'version only'})"
        )
    if tinyhtml5.__version__ != TINYHTML5_VERSION:
        problems.append(f"tinyhtml5 {TINYHTML5_VERSION}, found {tinyhtml5.__version__}")
    if problems:
        raise RuntimeError(
            "ceroc_donations.rendering.fastparse was checked on "
            f"{' and '.join(problems)}: check that HTML.__init__ and tinyhtml5's tree "
            "building are unchanged (tests/test_fastparse.py), then update the pins"
        )


check_pinned()


# --- The parser ---------------------------------------------------------------------------

_SVG = namespaces["svg"]

#: Void elements: written ``<br />``; tinyhtml5 never gives them content.
_VOID = frozenset({"br", "img", "hr", "wbr", "meta", "link", "base", "col"})
#: Start tags that close an open ``<p>`` (or would in no-quirks mode, ``<table>``).
_CLOSE_P = frozenset({
    "address", "article", "aside", "blockquote", "div", "dl", "figcaption", "figure",
    "footer", "header", "main", "nav", "ol", "ul", "section", "p", "pre", "table", "hr",
    "li", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6",
})  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
#: Formatting elements (the adoption agency's): never inside one of the same name.
_FORMATTING = frozenset({"a", "b", "code", "em", "i", "s", "small", "strong", "u"})
#: The HTML elements a body may hold here; anything else is left to tinyhtml5.
_BODY = _CLOSE_P | _FORMATTING | frozenset({
    "span", "abbr", "bdi", "bdo", "cite", "data", "dfn", "kbd", "mark", "q", "samp", "sub",
    "sup", "time", "var", "br", "img", "wbr", "svg",
})  # fmt: skip
_HEAD = frozenset({"meta", "link", "base", "title"})
#: Table parts, only ever as these parents' children.
_TABLE_CHILDREN = {
    "table": frozenset({"caption", "colgroup", "thead", "tbody", "tfoot"}),
    "thead": frozenset({"tr"}),
    "tbody": frozenset({"tr"}),
    "tfoot": frozenset({"tr"}),
    "tr": frozenset({"td", "th"}),
    "colgroup": frozenset({"col"}),
}
#: The children each HTML element may have here (others: :data:`_BODY`); none in void
#: elements and in ``<title>``, which holds text.
_CHILDREN = {**_TABLE_CHILDREN, **dict.fromkeys(_VOID | {"title"}, frozenset()), "head": _HEAD}
#: Elements whose own text (and their children's tails) may only be whitespace.
_WHITESPACE_ONLY = frozenset({"html", "head", "table", "thead", "tbody", "tfoot", "tr",
                              "colgroup"})  # fmt: skip
#: SVG elements whose content tinyhtml5 parses as HTML (integration points).
_SVG_HTML_POINTS = frozenset({"foreignObject", "desc", "title"})
_SVG_BREAKOUT = InForeignContentPhase.breakout_elements | {"font"}
_XML_SPACE = " \t\n\r"  # HTML's also has U+000C, which XML forbids

_DECLARATION = re.compile("<[!?]")
#: References to U+0080 to U+009F, which HTML reads as windows-1252 (&#150; is "–"); the
#: only others in tinyhtml5's table are &#0; (not XML) and &#13; (CR in both).
_REMAPPED_REFERENCE = re.compile("&#(?:0*(?:12[89]|1[3-5][0-9])|x0*[89][0-9a-fA-F]);")
#: A quoted attribute value holding a literal tab, LF or CR (values hold no "<" in XML).
_ATTRIBUTE_WHITESPACE = re.compile("""=[ \t\n\r]*(?:"[^"<\t\n\r]*[\t\n\r]|'[^'<\t\n\r]*[\t\n\r])""")


#: Elements whose open ancestors are checked (:func:`_check_nesting`) and so counted.
_NESTING = _CLOSE_P | _FORMATTING
#: Counted together too: any heading, ``<dd>`` or ``<dt>``.
_GROUP = {**dict.fromkeys(_HEADINGS, "a heading"), "dd": "<dd> or <dt>", "dt": "<dd> or <dt>"}


class _Refused(Exception):
    """Well-formed maybe, but tinyhtml5 might build another tree: let it parse."""


@lru_cache(maxsize=256)
def _svg_tag(name: str) -> str | None:
    """*name* if tinyhtml5 gives an SVG element written so the same name, else None."""
    lower = name.translate(ascii_upper_to_lower)
    if lower in _SVG_BREAKOUT:
        return None
    token = {"name": lower}
    InForeignContentPhase.adjust_svg_tag_names(None, token)  # uses no state
    return name if token["name"] == name else None


@lru_cache(maxsize=256)
def _svg_attribute(name: str) -> str | None:
    """The key tinyhtml5 gives SVG attribute *name* (``{namespace}local`` for ``xmlns``,
    ``xlink:*``, ``xml:*``), or None when its case would change."""
    lower = name.translate(ascii_upper_to_lower)
    if adjust_svg_attributes.get(lower, lower) != name:
        return None
    foreign = adjust_foreign_attributes.get(name)
    return f"{{{foreign[2]}}}{foreign[1]}" if foreign else name


def _html_attributes(pairs: list[str]) -> dict[str, str]:
    attributes = {}
    for i in range(0, len(pairs), 2):
        name = pairs[i]
        if name.translate(ascii_upper_to_lower) != name:
            raise _Refused(f"attribute {name!r}: HTML lower-cases it")
        attributes[name] = pairs[i + 1]
    return attributes


def _svg_attributes(pairs: list[str]) -> dict[str, str]:
    attributes = {}
    for i in range(0, len(pairs), 2):
        key = _svg_attribute(pairs[i])
        if key is None:
            raise _Refused(f"SVG attribute {pairs[i]!r}: tinyhtml5 writes it otherwise")
        attributes[key] = pairs[i + 1]
    return attributes


class _Frame:
    """An open element."""

    __slots__ = ("element", "name", "svg", "void", "whitespace_only", "filled")

    def __init__(self, element: Element, name: str, svg: bool):
        self.element = element
        self.name = name
        self.svg = svg
        self.void = not svg and name in _VOID
        self.whitespace_only = not svg and name in _WHITESPACE_ONLY
        self.filled = False  # has it text or children yet?


def _check_nesting(name: str, open_names: dict[str, int]) -> None:
    """Refuse *name* where HTML would close an element that is open (or reopen one)."""
    if not open_names:
        return
    if name in _CLOSE_P and open_names.get("p"):
        raise _Refused(f"<{name}> in <p>: HTML closes the <p>")
    group = _GROUP.get(name)
    if group and open_names.get(group):
        raise _Refused(f"<{name}> in {group}: HTML closes that")
    if (name == "li" or name in _FORMATTING) and open_names.get(name):
        raise _Refused(f"<{name}> in <{name}>: HTML closes the first")


def _check_text(html: str) -> None:
    if html.startswith("\ufeff"):
        raise _Refused("byte-order mark")
    # In well-formed XML "<" opens markup only: "<!" a doctype, a comment or a CDATA
    # section, "<?" a processing instruction or the XML declaration.
    for match in _DECLARATION.finditer(html):
        if not html.startswith("<!DOCTYPE", match.start()):
            raise _Refused("comments, processing instructions and CDATA sections")
    if "&#" in html and _REMAPPED_REFERENCE.search(html):
        raise _Refused("a reference to a character HTML reads as another (&#128; to &#159;)")
    if _ATTRIBUTE_WHITESPACE.search(html):
        raise _Refused("a tab, LF or CR in an attribute value: XML makes it a space")


def _build(html: str) -> Element:
    _check_text(html)
    data = html.encode("utf-8")  # a lone surrogate: UnicodeEncodeError
    parser = expat.ParserCreate("utf-8")
    parser.buffer_text = True
    parser.buffer_size = max(len(data), 1024)
    parser.ordered_attributes = True

    stack: list[_Frame] = []
    open_names: dict[str, int] = {}  # open HTML elements by name
    parts: dict[str, Element] = {}  # the html element's head and body
    after_body: list[str] = []
    root: list[Element] = []

    def refuse(why: str):
        def handler(*_args):
            raise _Refused(why)

        return handler

    def doctype(name, system_id, public_id, internal_subset):
        if name != "html" or system_id is not None or public_id is not None or internal_subset:
            raise _Refused("only <!DOCTYPE html>")

    def start(name: str, pairs: list[str]) -> None:
        if not stack:
            if name != "html":
                raise _Refused("the root is not <html>")
            element = Element(name, _html_attributes(pairs))
            root.append(element)
            stack.append(_Frame(element, name, False))
            return
        parent = stack[-1]
        parent.filled = True
        if parent.svg:
            if parent.name in _SVG_HTML_POINTS:
                raise _Refused(f"<{name}> in SVG <{parent.name}>: parsed as HTML")
            if _svg_tag(name) is None:
                raise _Refused(f"<{name}> in SVG: tinyhtml5 names or places it otherwise")
            element = SubElement(parent.element, f"{{{_SVG}}}{name}", _svg_attributes(pairs))
            stack.append(_Frame(element, name, True))
            return
        if parent.name == "html":
            if name != ("body" if parts else "head") or len(parts) == 2:
                raise _Refused("<html> holds exactly <head> and <body>")
        elif name not in _CHILDREN.get(parent.name, _BODY):
            raise _Refused(f"<{name}> in <{parent.name}>: not checked here, or HTML moves it")
        if name in _NESTING:
            _check_nesting(name, open_names)
        if name == "svg":
            element = SubElement(parent.element, f"{{{_SVG}}}svg", _svg_attributes(pairs))
            stack.append(_Frame(element, name, True))
            return
        element = SubElement(parent.element, name, _html_attributes(pairs))
        if parent.name == "html":
            parts[name] = element
        stack.append(_Frame(element, name, False))
        if name in _NESTING:
            open_names[name] = open_names.get(name, 0) + 1
            group = _GROUP.get(name)
            if group:
                open_names[group] = open_names.get(group, 0) + 1

    def end(name: str) -> None:
        frame = stack.pop()
        at = parser.CurrentByteIndex
        # An empty-element tag ends its element right after its "/>"; an end tag's event
        # is at its "</" (after an empty element, the start tag's ">").
        self_closed = not frame.filled and data[at - 2 : at] == b"/>"
        if frame.svg:
            return
        if name in _NESTING:
            open_names[name] -= 1
            group = _GROUP.get(name)
            if group:
                open_names[group] -= 1
        if frame.void != self_closed:
            raise _Refused(f"<{name}> must be written <{name} />" if frame.void else
                           f"<{name}/>: HTML ignores the slash")  # fmt: skip
        if name == "html" and len(parts) != 2:
            raise _Refused("<html> holds exactly <head> and <body>")

    def text(chars: str) -> None:
        frame = stack[-1]
        if frame.void:
            raise _Refused(f"text in void <{frame.name}>")
        if frame.whitespace_only and chars.strip(_XML_SPACE):
            raise _Refused(f"text in <{frame.name}>: HTML moves it")
        if frame.name == "html" and not frame.svg:
            if not parts:
                return  # before <head>: tinyhtml5 drops it
            if len(parts) == 2:
                after_body.append(chars)  # after </body>: tinyhtml5 puts it in the body
                return
        elif frame.name == "pre" and not frame.svg and not frame.filled and chars.startswith("\n"):
            raise _Refused("<pre> starting with a newline: HTML drops it")
        frame.filled = True
        element = frame.element
        if len(element):
            last = element[-1]
            last.tail = last.tail + chars if last.tail else chars
        else:
            element.text = element.text + chars if element.text else chars

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.CommentHandler = refuse("comment")
    parser.ProcessingInstructionHandler = refuse("processing instruction")
    parser.StartCdataSectionHandler = refuse("CDATA section")
    parser.XmlDeclHandler = refuse("XML declaration")
    parser.EntityDeclHandler = refuse("entity declaration")
    parser.SkippedEntityHandler = refuse("unknown entity")
    parser.ExternalEntityRefHandler = refuse("external entity")
    try:
        parser.Parse(data, True)
    finally:
        # end() refers to the parser: break the cycle (the collector is off in a letter).
        parser.EndElementHandler = None

    # Whitespace after </html> (expat reports none outside the root) goes with the rest.
    epilogue = html[html.rfind(">") + 1 :]
    if epilogue:
        after_body.append(epilogue.replace("\r\n", "\n").replace("\r", "\n"))
    if after_body:
        body = parts["body"]
        chars = "".join(after_body)
        if len(body):
            body[-1].tail = body[-1].tail + chars if body[-1].tail else chars
        else:
            body.text = body.text + chars if body.text else chars
    return root[0]


def refusal(html: str) -> str | None:
    """Why :func:`parse` leaves *html* to tinyhtml5, or None when it parses it."""
    try:
        _build(html)
    except _Refused as error:
        return str(error)
    except expat.ExpatError as error:
        return f"not well-formed XML: {error}"
    except UnicodeError as error:
        return f"not UTF-8 text: {error}"
    return None


def parse(html: str) -> Element | None:
    """The tree ``tinyhtml5.parse(html, namespace_html_elements=False)`` builds, built by
    expat; None when that cannot be sure to be the same tree."""
    try:
        return _build(html)
    except (_Refused, expat.ExpatError, UnicodeError):
        return None


def html_document(
    string: str, *, base_url=None, url_fetcher=None, media_type: str = "print"
) -> weasyprint.HTML:
    """``weasyprint.HTML(string=string, base_url=…, url_fetcher=…, media_type=…)``, with
    the tree from :func:`parse` when it has one (WeasyPrint 70.0's ``HTML.__init__`` but
    the parsing), else WeasyPrint's own."""
    root = parse(string) if isinstance(string, str) else None
    if root is None:
        return weasyprint.HTML(
            string=string, base_url=base_url, url_fetcher=url_fetcher, media_type=media_type
        )
    weasyprint.PROGRESS_LOGGER.info("Step 1 - Fetching and parsing HTML - %s", "HTML string")
    if isinstance(base_url, Path):
        base_url = str(base_url)
    if base_url is not None:
        base_url = weasyprint.urls.ensure_url(base_url)
    document = weasyprint.HTML.__new__(weasyprint.HTML)
    document.base_url = weasyprint._find_base_url(root, base_url)
    document.url_fetcher = weasyprint.urls.URLFetcher() if url_fetcher is None else url_fetcher
    document.media_type = media_type
    document.wrapper_element = cssselect2.ElementWrapper.from_html_root(root, content_language=None)
    document.etree_element = document.wrapper_element.etree_element
    return document
