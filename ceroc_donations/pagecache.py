"""Finished HTML of the pages everyone reads, kept per process until the books change.

The ledger and the public transparency page are read far more often than the books are
written, and most of their cost is reading fifty rows, their balances and charts, and
drawing them. :func:`cached_html` keeps the drawn main part of such a page, keyed by:

- the head of the audit chain (sequence number and hash): every change to the books,
  donors, funds or settings appends an event to it, so any change draws the page anew,
  in every instance that shares the database, and a book reset can never bring back a
  page of the old books;
- today's date, the language, the query string and the mount point;
- what the caller says the page depends on besides (the viewer's role: what a member may
  see of a donor is not what the treasurer sees).

The page's frame (navigation, the viewer's name, the sign-out form's CSRF token, flashed
messages) is drawn for each request around it, so nothing of one viewer reaches another.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date

from flask import current_app, request
from markupsafe import Markup

from ceroc_donations import audit
from ceroc_donations.i18n import locale_code

#: Pages kept per process: about 60-120 KB each.
PAGES_KEPT = 64

_lock = threading.Lock()


def _pages() -> OrderedDict:
    return current_app.extensions.setdefault("ceroc_page_cache", OrderedDict())


def cached_html(name: str, vary: tuple, draw: Callable[[], str]) -> Markup:
    """The HTML ``draw()`` makes for this request, drawn once per process per books."""
    head = audit.head()
    key = (
        name,
        vary,
        head.seq,
        head.hash,
        date.today(),
        locale_code(),
        request.script_root,
        tuple(request.args.items(multi=True)),
    )
    pages = _pages()
    with _lock:
        html = pages.get(key)
        if html is not None:
            pages.move_to_end(key)
            return html
    html = Markup(draw())
    with _lock:
        pages[key] = html
        while len(pages) > PAGES_KEPT:
            pages.popitem(last=False)
    return html
