"""Hostile donor names, occasions and board texts: nothing is fetched, run or embedded."""

from __future__ import annotations

import dataclasses
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO

import pypdf
import pytest

from ceroc_donations.rendering import (
    FONT_FILES,
    Donor,
    FetchRefused,
    LetterRenderer,
    LetterTexts,
    render_html,
)
from ceroc_donations.rendering.khmer import ZWSP
from tests.rendering_support import sample_letter, sample_statement


class _Counter(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.server.target)
            self.end_headers()
            return
        body = b"root:x:0:0:HTTP-MARKER"
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def servers():
    """A counting server, and a second one that 302-redirects to it."""
    started = []
    for _ in range(2):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
        server.hits = []
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append(server)
    target, redirector = started
    redirector.target = f"http://127.0.0.1:{target.server_port}/from-redirect"
    target.target = redirector.target
    yield target, redirector
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def renderer():
    return LetterRenderer()


def payloads(target: str, redirect: str) -> list[str]:
    urls = ["file:///etc/passwd", "/etc/passwd", "/dev/urandom", "../../../../etc/passwd",
            target + "/direct", redirect + "/redirect"]  # fmt: skip
    found = []
    for url in urls:
        found += [
            url,
            f'<link rel="stylesheet" href="{url}">',
            f'<img src="{url}">',
            f'<object data="{url}"></object>',
            f'<iframe src="{url}"></iframe>',
            f'<svg><image href="{url}"/></svg>',
            f'<p style="background: url({url})">x</p>',
            f"<style>@import url({url});</style>",
            f'<style>@font-face {{ font-family: X; src: url("{url}"); }}'
            "p { font-family: X }</style>",
            f'<a rel="attachment" href="{url}">file</a>',
        ]
    return found + [
        "{{ 7*191 }}", "{{ config.items() }}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
        "{donor_name_en.__class__}", "<script>document.write(7*191)</script>",
        '"><img src=x onerror=alert(1)>', "</style></p></body><body>", "&lt;img&gt; &amp; &#x3c;",
        "ស្រ្តី <b>ខ្មែរ</b>\u200b\u200b", "\u202e evil bidi", "data:text/html,<script>1</script>",
        "javascript:alert(1)",
    ]  # fmt: skip


def _board_texts(payload: str) -> LetterTexts:
    # Placeholder braces in a payload would be refused by validation; double them so the
    # payload reaches the letter as literal text (the point is what happens then).
    literal = payload.replace("{", "{{").replace("}", "}}")
    base = LetterTexts.default()
    return dataclasses.replace(
        base,
        org_name_en=literal,
        greeting_en=literal + " {donor_name_en},",
        body_en=base.body_en + "\n\n" + literal,
        body_km=literal + "\n\n" + base.body_km,
        closing_km=literal,
        signatory_name_en=literal,
        statement_body_en=literal,
        not_tax_receipt_en=literal,
    )


def _check_pdf(pdf: bytes) -> str:
    reader = pypdf.PdfReader(BytesIO(pdf))
    root = reader.trailer["/Root"]
    assert "/EmbeddedFiles" not in root.get("/Names", {}), "embedded file"
    assert "/AF" not in root
    for page in reader.pages:
        for annot in page.get("/Annots", []) or []:
            assert annot.get_object().get("/Subtype") != "/FileAttachment"
        assert "/XObject" not in page["/Resources"] or not page["/Resources"]["/XObject"]
    text = "".join(page.extract_text() for page in reader.pages).replace(ZWSP, "")
    for marker in ("root:x:0", "HTTP-MARKER", "1337", "<class"):
        assert marker not in text
    return text


def test_hostile_values_and_texts_fetch_nothing(renderer, servers):
    target, redirector = servers
    corpus = payloads(f"http://127.0.0.1:{target.server_port}",
                      f"http://127.0.0.1:{redirector.server_port}")  # fmt: skip
    assert len(corpus) >= 40
    for payload in corpus:
        data = sample_letter(
            donors=(Donor(payload, payload), Donor("IKA")),
            occasion=payload,
            occasion_km=payload,
            purpose=payload,
            reference=payload[:80],
        )
        for kind, letter in (("thank_you", data), ("statement", sample_statement(
                donors=data.donors, reference=payload[:80]))):  # fmt: skip
            html = render_html(letter, _board_texts(payload), kind)
            assert "<script" not in html and "<img" not in html and "<link" not in html
            assert "<iframe" not in html and "<object" not in html and "<svg" not in html
            pdf = renderer.to_pdf(html, title=payload, author=payload, subject=payload)
            text = _check_pdf(pdf)
            assert "{{ 7*191 }}" in text or "{{ 7*191 }}" not in payload
    assert target.hits == [] and redirector.hits == []
    assert renderer.fetcher.refused == 0, "escaped text must not even ask for a URL"


def test_raw_hostile_html_is_refused_by_the_fetcher(servers):
    """Defence in depth: even unescaped HTML gets nothing past the fetcher."""
    target, redirector = servers
    renderer = LetterRenderer()
    corpus = payloads(f"http://127.0.0.1:{target.server_port}",
                      f"http://127.0.0.1:{redirector.server_port}")  # fmt: skip
    html = "<!DOCTYPE html><html><body><p>start</p>" + "\n".join(corpus) + "</body></html>"
    pdf = renderer.to_pdf(html, title="raw")
    _check_pdf(pdf)
    assert target.hits == [] and redirector.hits == []
    assert renderer.fetcher.refused > 0


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "file://localhost/etc/passwd",
    "file:///usr/share/fonts/truetype/noto/../../../../etc/passwd",
    "file:///dev/urandom",
    "file://evil.example/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf",
    "file:///usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf?x=1",
    "data:text/css,p{color:red}",
    "data:font/ttf;base64,AAAA",
    "javascript:alert(1)",
    "ftp://127.0.0.1/x",
    "https://example.org/font.ttf",
    "../../etc/passwd",
    "NotoSerif-Regular.ttf",
    "",
])  # fmt: skip
def test_fetcher_refuses(url):
    fetcher = LetterRenderer().fetcher
    with pytest.raises(FetchRefused):
        fetcher.fetch(url)
    assert fetcher.refused == 1


def test_fetcher_refuses_local_server(servers):
    target, _ = servers
    fetcher = LetterRenderer().fetcher
    with pytest.raises(FetchRefused):
        fetcher.fetch(f"http://127.0.0.1:{target.server_port}/")
    assert target.hits == []


def test_fetcher_serves_only_the_allow_list():
    renderer = LetterRenderer()
    path = FONT_FILES["khmer"]
    response = renderer.fetcher.fetch(path.as_uri())
    try:
        assert response.read() == path.read_bytes()
        assert response.content_type == "font/ttf"
    finally:
        response.close()
    assert renderer.fetcher.allowed == {
        *(str(p.resolve()) for p in FONT_FILES.values()),
        str((renderer.letters_dir / "letter.css").resolve()),
    }
