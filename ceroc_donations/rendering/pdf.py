"""HTML → PDF/A bytes with WeasyPrint, fetching nothing but our own static files.

One :class:`LetterRenderer` per process: it keeps one ``FontConfiguration`` and the
parsed stylesheets, which halves the time per letter and keeps memory flat.
"""

from __future__ import annotations

import gc
import logging
import mimetypes
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import weasyprint
from weasyprint import CSS, HTML
from weasyprint.css import ColorProfile
from weasyprint.document import Document
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse, path2url

from ceroc_donations.rendering import actualtext, fastparse, fastpaths, pdfwrite, svgpath
from ceroc_donations.rendering.fonts import FONT_DIR, FONT_FACES, FONT_FILES  # noqa: F401  (re-exported)
from ceroc_donations.rendering.framestack import on_deep_stack
from ceroc_donations.rendering.letter import (
    LETTERS_DIR,
    Kind,
    LetterData,
    LetterTexts,
    letter_metadata,
    render_html,
)
from ceroc_donations.rendering.pool import worker_context

LOGGER = logging.getLogger(__name__)

# Khmer clusters carry their true text (/ActualText) and tagged elements their /Lang.
actualtext.install()
# pydyf compresses each stream once, not twice, for the PDF/A file identifier.
pdfwrite.install()
# Computed styles, used lengths and font subsets by shorter routes, to the same values.
fastpaths.install()
# SVG paths of straight lines (every letter's QR code) are drawn without re-parsing.
svgpath.install()
#: Our patches of WeasyPrint and pydyf, each with ``install``, ``installed`` and
#: ``uninstall`` (the benchmarks take them all out to measure stock WeasyPrint).
PATCHES = (actualtext, pdfwrite, fastpaths, svgpath)

PDF_VARIANT = "pdf/a-3a"

#: Name of our sRGB output intent. WeasyPrint's own "srgb" opens its ICC file for every
#: PDF and never closes it (a ResourceWarning each time); we read it once instead.
OUTPUT_INTENT = "ceroc-srgb"


class _FixedProfile(ColorProfile):
    """An ICC profile embedded as its file's bytes.

    WeasyPrint re-serialises profiles through LittleCMS for every PDF, which stamps the
    current time into the ICC header: the same letter written a second later differed.
    """

    def __init__(self, icc: bytes, src: str):
        super().__init__(BytesIO(icc), src, "relative-colorimetric", (["r"], ["g"], ["b"]))
        self._icc = icc

    @property
    def content(self) -> bytes:
        return self._icc


def _srgb_profile() -> ColorProfile:
    return _FixedProfile((files(weasyprint) / "pdf" / "sRGB2014.icc").read_bytes(), "sRGB2014.icc")


_MIME_TYPES = {".ttf": "font/ttf", ".otf": "font/otf", ".css": "text/css", ".svg": "image/svg+xml",
               ".png": "image/png", ".woff2": "font/woff2", ".woff": "font/woff"}  # fmt: skip


@contextmanager
def collecting_between_documents(collect: bool = True):
    """Python's garbage collector pauses while a document is laid out and written, then
    (with *collect*) collects once: its full collections (~400 ms every ~50 letters)
    otherwise land inside letters and make the slow tail. Nested uses do nothing.

    Collect only once the document is dropped: a collection walks every live object, and
    a laid-out report is millions of them.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        if collect:
            gc.collect()


_heap_frozen = False


def freeze_heap() -> None:
    """Collect, then move every object alive to the permanent generation (once a process).

    Call after warm-up (fonts, stylesheets and WeasyPrint's caches are loaded): the
    collector then never scans them again, which shortens every later collection. The
    batch workers do it after their first letter, the report renderer after its first
    report.
    """
    global _heap_frozen
    if not _heap_frozen:
        gc.collect()
        gc.freeze()
        _heap_frozen = True


class FetchRefused(ValueError):
    """A resource outside the allow-list was asked for; WeasyPrint renders without it."""


class StaticFileFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves an allow-list of local files and nothing else.

    No network, no ``data:``, no other file: it never calls the default fetcher, so
    redirects cannot happen. Refusals are counted in :attr:`refused` and logged.
    """

    def __init__(self, allowed: Iterable[Path | str]):
        # The parent sets up urllib handlers; we never use them but WeasyPrint reads
        # its attributes (e.g. ``_fail_on_errors``).
        super().__init__(allowed_protocols=("file",), allow_redirects=False)
        self._allowed: dict[str, str] = {}
        for path in allowed:
            real = os.path.realpath(path)
            suffix = Path(real).suffix.lower()
            self._allowed[real] = _MIME_TYPES.get(suffix) or (
                mimetypes.guess_type(real)[0] or "application/octet-stream"
            )
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.refused = 0

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self._allowed)

    def _refuse(self, url: str, why: str) -> FetchRefused:
        self.refused += 1
        LOGGER.warning("Refused to fetch %.200r: %s", url, why)
        return FetchRefused(f"refused to fetch {url[:200]!r}: {why}")

    def resolve(self, url: str) -> str:
        """The real path *url* stands for, or raise :class:`FetchRefused`."""
        if not isinstance(url, str):
            raise self._refuse(repr(url), "not a URL")
        try:
            parts = urlsplit(url)
        except ValueError:
            raise self._refuse(url, "malformed URL") from None
        if parts.scheme.lower() != "file":
            raise self._refuse(url, "only the letter's own files are fetched")
        if parts.netloc not in ("", "localhost") or parts.query:
            raise self._refuse(url, "not a local file")
        real = os.path.realpath(url2pathname(unquote(parts.path)))
        if real not in self._allowed:
            raise self._refuse(url, "not one of the letter's static files")
        return real

    def fetch(self, url, headers=None):  # noqa: ARG002 - signature defined by WeasyPrint
        real = self.resolve(url)
        with self._lock:
            body = self._cache.get(real)
            if body is None:
                body = self._cache[real] = Path(real).read_bytes()
        return URLFetcherResponse(
            path2url(real), body, {"Content-Type": self._allowed[real]}, status=200
        )


def font_face_css(fonts: Mapping[str, Path]) -> str:
    """``@font-face`` rules for :data:`FONT_FACES` pointing at *fonts*' files."""
    rules = []
    for family, weight, key in FONT_FACES:
        url = path2url(str(fonts[key]))
        rules.append(
            f'@font-face {{ font-family: "{family}"; font-weight: {weight}; '
            f'font-style: normal; src: url("{url}") format("truetype"); }}'
        )
    return "\n".join(rules)


@dataclass(frozen=True)
class LetterJob:
    """One letter of a batch: plain data, picklable for worker processes."""

    data: LetterData
    texts: LetterTexts
    kind: Kind = "thank_you"


class LetterRenderer:
    """Turns letter HTML into PDF/A bytes, reusing fonts and stylesheets across letters.

    Not thread-safe (WeasyPrint and Pango objects are shared): use one per thread or
    process. Its entry points lay out and write from a frame with a frame-stack chunk
    of its own (:mod:`.framestack`).
    """

    def __init__(
        self,
        letters_dir: Path | str | None = None,
        *,
        fonts: Mapping[str, Path | str] | None = None,
        pdf_variant: str = PDF_VARIANT,
        extra_files: Iterable[Path | str] = (),
        stylesheet: str = "letter.css",
        freeze_after_first: bool = False,
        fast_parse: bool = True,
    ):
        """*stylesheet* names the design's CSS inside *letters_dir*: ``letter.css`` for
        letters, ``report.css`` for the transparency report; fonts and fetcher are shared.
        *freeze_after_first*: call :func:`freeze_heap` once the first document is done
        (for processes that render many documents). *fast_parse*: parse the HTML with
        expat where that gives tinyhtml5's very tree (:mod:`.fastparse`); off, WeasyPrint
        always parses it itself (the same documents, slower)."""
        self.freeze_after_first = freeze_after_first
        self.fast_parse = fast_parse
        self.letters_dir = Path(letters_dir or LETTERS_DIR).resolve()
        self.fonts = {key: Path(path) for key, path in {**FONT_FILES, **(fonts or {})}.items()}
        missing = [str(path) for path in self.fonts.values() if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"letter fonts not found: {', '.join(missing)}")
        stylesheet = self.letters_dir / stylesheet
        self.fetcher = StaticFileFetcher([*self.fonts.values(), stylesheet, *extra_files])
        self.font_config = FontConfiguration()
        self.options = {"pdf_variant": pdf_variant} if pdf_variant else {}
        self.color_profiles = {}
        if pdf_variant and pdf_variant.startswith("pdf/a"):
            self.color_profiles[OUTPUT_INTENT] = _srgb_profile()
            self.options["output_intent"] = OUTPUT_INTENT
        self.base_url = path2url(str(self.letters_dir)) + "/"
        self.stylesheets = [
            CSS(string=font_face_css(self.fonts), font_config=self.font_config,
                url_fetcher=self.fetcher),
            CSS(url=path2url(str(stylesheet)), font_config=self.font_config,
                url_fetcher=self.fetcher),
        ]  # fmt: skip

    @on_deep_stack
    def render_document(
        self,
        html: str,
        *,
        title: str | None = None,
        author: str | None = None,
        subject: str | None = None,
        lang: str | None = None,
    ) -> Document:
        """Lay out *html*; metadata given here replaces what the HTML says."""
        with collecting_between_documents(collect=False):
            return self._render_document(html, title, author, subject, lang)

    def _render_document(self, html, title, author, subject, lang) -> Document:
        if self.fast_parse:
            # Our designs are well-formed XML: expat builds tinyhtml5's tree in a tenth of
            # the time; any other HTML is parsed by WeasyPrint as before.
            source = fastparse.html_document(html, base_url=self.base_url, url_fetcher=self.fetcher)
        else:
            source = HTML(string=html, base_url=self.base_url, url_fetcher=self.fetcher)
        document = source.render(
            font_config=self.font_config,
            color_profiles=self.color_profiles,
            stylesheets=self.stylesheets,
            **self.options,
        )
        metadata = document.metadata
        if title is not None:
            metadata.title = title
        if author is not None:
            metadata.authors = [author]
        if subject is not None:
            metadata.description = subject
        if lang is not None:
            metadata.lang = lang
        # A letter never carries files, whatever its HTML says.
        metadata.attachments = []
        return document

    @on_deep_stack
    def to_pdf(
        self,
        html: str,
        *,
        title: str | None = None,
        author: str | None = None,
        subject: str | None = None,
        lang: str | None = None,
    ) -> bytes:
        """Render *html* to PDF/A bytes with the given metadata."""
        with collecting_between_documents():
            # The document lives in the helper's frame only: gone before the collection.
            pdf = self._html_pdf(html, title, author, subject, lang)
        self._document_done()
        return pdf

    def _html_pdf(self, html, title, author, subject, lang) -> bytes:
        return self.write(self._render_document(html, title, author, subject, lang))

    def _document_done(self) -> None:
        if self.freeze_after_first:
            freeze_heap()
            self.freeze_after_first = False

    @on_deep_stack
    def write(self, document: Document) -> bytes:
        """Write a laid-out document as PDF/A bytes."""
        with collecting_between_documents(collect=False):
            return document.write_pdf(**self.options)

    def combine(self, documents: Sequence[Document]) -> bytes:
        """One print-ready PDF of several laid-out letters, each starting on a new page."""
        if not documents:
            raise ValueError("nothing to combine")
        pages = [page for document in documents for page in document.pages]
        return self.write(documents[0].copy(pages))

    @on_deep_stack
    def render_letter(
        self, data: LetterData, texts: LetterTexts | None = None, kind: Kind = "thank_you"
    ) -> bytes:
        """Render one letter straight from its data: HTML, then PDF/A bytes."""
        with collecting_between_documents():
            pdf = self._letter_pdf(data, texts, kind)
        self._document_done()
        return pdf

    def _letter_pdf(self, data, texts, kind) -> bytes:
        return self.write(self.letter_document(data, texts, kind))

    @on_deep_stack
    def archived_letter(self, data: LetterData, texts: LetterTexts, kind: Kind) -> bytes:
        """The PDF/A bytes the archive keeps for a letter: its creation and modification
        dates are the letter's issued date, never the time of rendering, so the same data
        and texts always give the same bytes (in this process or a batch worker).

        Collects garbage after the letter only in a process whose heap is frozen (a batch
        worker), where that is cheap; a web process's collector runs as it always does."""
        with collecting_between_documents(collect=_heap_frozen):
            pdf = self._archived_pdf(data, texts, kind)
        self._document_done()
        return pdf

    def _archived_pdf(self, data, texts, kind) -> bytes:
        document = self.letter_document(data, texts, kind)
        document.metadata.created = document.metadata.modified = data.issued_on.isoformat()
        return self.write(document)

    @on_deep_stack
    def letter_document(
        self, data: LetterData, texts: LetterTexts | None = None, kind: Kind = "thank_you"
    ) -> Document:
        """Lay out one letter (for :meth:`combine` or page inspection)."""
        texts = texts or LetterTexts.default(self.letters_dir)
        html = render_html(data, texts, kind, letters_dir=self.letters_dir)
        return self.render_document(html, **letter_metadata(data, texts, kind))


def combine_pdfs(pdfs: Sequence[bytes]) -> bytes:
    """Concatenate finished PDFs (e.g. from :func:`render_batch`) into one for printing.

    The result is plain PDF, not PDF/A: use :meth:`LetterRenderer.combine` when the
    batch itself must be archived.
    """
    from pypdf import PdfWriter

    writer = PdfWriter()
    for pdf in pdfs:
        writer.append(BytesIO(pdf))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# --- Batches in worker processes ------------------------------------------------------

_worker_renderer: LetterRenderer | None = None


def _init_worker(renderer_kwargs: dict) -> None:
    global _worker_renderer
    # Everything the first letter loads stays for the worker's life: freeze it then.
    _worker_renderer = LetterRenderer(**{"freeze_after_first": True, **renderer_kwargs})


def _peak_rss_kib() -> int:
    """This process's peak resident memory (VmHWM) in KiB, 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _render_job(job: LetterJob) -> tuple[bytes, int, int]:
    assert _worker_renderer is not None, "worker not initialised"
    pdf = _worker_renderer.render_letter(job.data, job.texts, job.kind)
    return pdf, os.getpid(), _peak_rss_kib()


def render_batch(
    jobs: Sequence[LetterJob],
    *,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    stats: dict[int, int] | None = None,
    chunksize: int = 4,
    **renderer_kwargs,
) -> list[bytes]:
    """Render *jobs* to PDF bytes, in order, in *workers* processes (0: in this process).

    Each worker builds its :class:`LetterRenderer` once. *progress* is called with
    ``(done, total)`` after each letter; *stats*, if given, receives each worker's peak
    RSS in KiB by process id.
    """
    total = len(jobs)
    results: list[bytes] = []
    if workers <= 0:
        renderer = LetterRenderer(**renderer_kwargs)
        for done, job in enumerate(jobs, 1):
            results.append(renderer.render_letter(job.data, job.texts, job.kind))
            if progress:
                progress(done, total)
        if stats is not None:
            stats[os.getpid()] = _peak_rss_kib()
        return results
    # forkserver: workers start from a clean process, not a fork of a threaded server,
    # and without this process's main module.
    context = worker_context()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context,
        initializer=_init_worker, initargs=(renderer_kwargs,),
    ) as pool:  # fmt: skip
        for done, (pdf, pid, peak) in enumerate(
            pool.map(_render_job, jobs, chunksize=max(1, chunksize)), 1
        ):
            results.append(pdf)
            if stats is not None:
                stats[pid] = max(stats.get(pid, 0), peak)
            if progress:
                progress(done, total)
    return results
