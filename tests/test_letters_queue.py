"""The board's letter queue: tabs, filters, select-all, selected downloads and marking sent;
a batch's time-left estimate and status; the text editor's layout and signatory default."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from ceroc_donations.book.models import Contribution
from ceroc_donations.extensions import db
from ceroc_donations.letters import jobs
from ceroc_donations.letters.models import Letter, LetterBatch
from tests.conftest import contribution_form
from tests.letters_support import make_book, page_count, pdf_text, user_of

T0 = datetime(2026, 11, 30, 14, 0, 0)


@pytest.fixture
def ids(app):
    return make_book(app)


def _statuses(app, *cids):
    with app.app_context():
        rows = db.session.execute(select(Contribution).where(Contribution.id.in_(cids))).scalars()
        return {c.id: c.thank_status for c in rows}


def _tab_counts(html: str) -> dict[str, int]:
    found = re.findall(r'tab=(\w+)[^"]*"[^>]*>[^<]*<span class="count">(\d+)</span>', html)
    return {tab: int(n) for tab, n in found}


def _batch(app, batch_id) -> LetterBatch:
    with app.app_context():
        db.session.expire_on_commit = False
        b = db.session.get(LetterBatch, batch_id)
        db.session.expunge_all()
        return b


# --- the time-left estimate: a pure function -----------------------------------------------


def test_no_estimate_before_a_second_gift_is_done():
    assert jobs.estimate_seconds_left(0, 10, None, T0) is None
    assert jobs.estimate_seconds_left(1, 10, T0, T0 + timedelta(seconds=30)) is None


def test_estimate_uses_the_pace_since_the_first_gift():
    # 4 gifts after the first took 40 s: 10 s each, 5 gifts left.
    assert jobs.estimate_seconds_left(5, 10, T0, T0 + timedelta(seconds=40)) == 50
    # The first gift's start-up time is not in the pace: a slow start does not inflate it.
    assert jobs.estimate_seconds_left(2, 100, T0, T0 + timedelta(seconds=2)) == 196
    # Rounded up to whole seconds.
    assert jobs.estimate_seconds_left(4, 5, T0, T0 + timedelta(seconds=1)) == 1


def test_no_estimate_when_done_or_the_clock_went_back():
    assert jobs.estimate_seconds_left(10, 10, T0, T0 + timedelta(seconds=40)) is None
    assert jobs.estimate_seconds_left(3, 10, T0, T0) is None
    assert jobs.estimate_seconds_left(3, 10, T0, T0 - timedelta(seconds=5)) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, None),
        (0, "under a minute left"),
        (59, "under a minute left"),
        (60, "about a minute left"),
        (119, "about a minute left"),
        (150, "about 2 minutes left"),
        (600, "about 10 minutes left"),
    ],
)
def test_eta_text(app, seconds, text):
    from ceroc_donations.letters.views import eta_text

    with app.test_request_context("/"):
        assert eta_text(seconds) == text


def test_eta_text_in_khmer(app):
    from ceroc_donations.letters.views import eta_text

    with app.test_request_context("/", headers={"Accept-Language": "km"}):
        from flask_babel import refresh

        refresh()
        text = eta_text(300)
    assert text and "minutes" not in text


# --- tabs, counts and filters ------------------------------------------------------------


def test_tabs_with_counts_are_links(client, auth, ids, app):
    auth.login("board")
    html = client.get("/letters/").get_data(as_text=True)
    assert _tab_counts(html) == {"to_generate": 3, "generated": 0, "sent": 0}
    assert 'href="/letters/?tab=generated"' in html
    assert re.search(r'tab=to_generate"\s+aria-current="page"', html)
    assert ids.single_ref in html and "3 matching" in html
    r = client.post("/letters/batches", data={"ids": [str(ids.single)], "mode": "joint"})
    assert r.status_code == 302
    html = client.get("/letters/?tab=generated").get_data(as_text=True)
    assert _tab_counts(html) == {"to_generate": 2, "generated": 1, "sent": 0}
    assert re.search(r'tab=generated"\s+aria-current="page"', html)
    assert ids.single_ref in html and ids.joint_ref not in html
    assert 'id="download-selected"' in html and 'id="start-batch"' not in html
    # A tab name that does not exist: the first tab, and a message.
    r = client.get("/letters/?tab=nonsense")
    assert r.status_code == 200 and b"Choose one of the tabs" in r.data


def test_filters_narrow_the_list_and_the_counts(client, auth, ids, app):
    auth.login("board")
    html = client.get("/letters/?language=km").get_data(as_text=True)
    assert ids.joint_ref in html and ids.single_ref not in html
    assert _tab_counts(html)["to_generate"] == 1
    # The filter rides along on the tab links.
    assert "tab=generated&amp;language=km" in html
    html = client.get("/letters/?min=200&max=350").get_data(as_text=True)
    assert ids.joint_ref in html and ids.single_ref not in html
    html = client.get(f"/letters/?fund={ids.fund}&year=2014").get_data(as_text=True)
    assert _tab_counts(html)["to_generate"] == 3
    html = client.get("/letters/?year=2015").get_data(as_text=True)
    assert _tab_counts(html)["to_generate"] == 0 and "No gift matches these filters" in html


def test_bad_filters_are_named_and_left_out(client, auth, ids):
    auth.login("board")
    r = client.get("/letters/?min=abc&max=5&fund=999999&year=12&language=fr")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for field in ("min", "fund", "year", "language"):
        assert f'id="e-{field}"' in html, field
    assert 'value="abc"' in html  # kept as typed, beside its message
    assert ids.single_ref not in html  # max=5 still applies: nothing costs 5 or less
    r = client.get("/letters/?min=300&max=100")
    assert b'id="e-max"' in r.data


def test_year_filter(client, auth, ids, app):
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution

    with app.app_context():
        new = svc.record_contribution(
            parse_contribution(
                contribution_form(ids.alice, ids.fund, received_on="2015-01-05", amount="9")
            ),
            by=user_of("treasurer"),
        )
        db.session.commit()
        new_ref = new.reference
    auth.login("board")
    html = client.get("/letters/?year=2015").get_data(as_text=True)
    assert new_ref in html and ids.single_ref not in html
    assert '<option value="2015" selected>' in html and '<option value="2014"' in html


# --- select all, on every page -------------------------------------------------------------


def test_select_all_matching_sends_the_filter_and_reaches_other_pages(client, auth, ids, app):
    app.config["PAGE_SIZE"] = 1
    auth.login("board")
    html = client.get("/letters/").get_data(as_text=True)
    assert "Select all 3 matching" in html and "page 1 of 3" in html
    assert html.count('name="ids"') == 1  # one gift on this page
    assert 'rel="next"' in html
    r = client.post("/letters/batches", data={"select": "all", "mode": "joint"})
    assert r.status_code == 302
    batch_id = int(r.location.rstrip("/").rsplit("/", 1)[1])
    batch = _batch(app, batch_id)
    assert batch.total == 3 and batch.status == "done"
    assert set(batch.contribution_ids) == {ids.single, ids.joint, ids.later}


def test_select_all_respects_the_filters(client, auth, ids, app):
    auth.login("board")
    r = client.post("/letters/batches", data={"select": "all", "language": "km", "mode": "joint"})
    assert r.status_code == 302
    batch = _batch(app, int(r.location.rsplit("/", 1)[1]))
    assert batch.contribution_ids == [ids.joint]
    # Ticked only: the ticked ids, even when the filter matches more.
    r = client.post("/letters/batches", data={"ids": [str(ids.later)], "select": "ticked"})
    batch = _batch(app, int(r.location.rsplit("/", 1)[1]))
    assert batch.contribution_ids == [ids.later]
    # Nothing matches: a message, 422, nothing queued.
    r = client.post("/letters/batches", data={"select": "all", "year": "2001"})
    assert r.status_code == 422 and b"Tick at least one gift" in r.data


def test_generated_tab_downloads_and_marks_the_selected_sent(client, auth, ids, app):
    auth.login("board")
    client.post("/letters/batches", data={"select": "all", "mode": "each"})
    assert set(_statuses(app, ids.single, ids.joint, ids.later).values()) == {"drafted"}
    # Download all matching: one PDF, the joint gift's two letters included.
    r = client.post("/letters/queue/letters.pdf", data={"tab": "generated", "select": "all"})
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    assert page_count(r.data) == 4
    assert "attachment" in r.headers["Content-Disposition"]
    # Only the ticked, with a filter that leaves them out: the ticks still count.
    r = client.post(
        "/letters/queue/letters.pdf",
        data={"tab": "generated", "select": "ticked", "ids": [str(ids.single)]},
    )
    assert page_count(r.data) == 1 and "CNRP Minnesota" in pdf_text(r.data)
    r = client.post(
        "/letters/queue/sent",
        data={"tab": "generated", "language": "bilingual", "select": "all"},
    )
    assert (
        r.status_code == 302
        and "tab=generated" in r.location
        and "language=bilingual" in r.location
    )
    assert _statuses(app, ids.single, ids.joint, ids.later) == {
        ids.single: "sent",
        ids.later: "sent",
        ids.joint: "drafted",
    }
    html = client.get("/letters/?tab=sent").get_data(as_text=True)
    assert _tab_counts(html) == {"to_generate": 0, "generated": 1, "sent": 2}
    assert 'name="ids"' not in html  # nothing to select on the Sent tab
    # Nothing ticked, or nothing waiting: a message, 422.
    r = client.post("/letters/queue/sent", data={"tab": "generated", "select": "ticked"})
    assert r.status_code == 422 and b"Tick at least one gift" in r.data
    r = client.post(
        "/letters/queue/letters.pdf",
        data={"tab": "generated", "select": "ticked", "ids": [str(ids.single)]},
    )
    assert r.status_code == 422 and b"no letter waiting" in r.data


def test_treasurer_downloads_the_selected_but_cannot_mark_them_sent(client, auth, ids, app):
    auth.login("board")
    client.post("/letters/batches", data={"select": "all"})
    auth.logout()
    auth.login("treasurer")
    html = client.get("/letters/?tab=generated").get_data(as_text=True)
    assert 'id="download-selected"' in html and 'id="mark-selected-sent"' not in html
    r = client.post("/letters/queue/letters.pdf", data={"tab": "generated", "select": "all"})
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    r = client.post("/letters/queue/sent", data={"tab": "generated", "select": "all"})
    assert r.status_code == 403
    assert set(_statuses(app, ids.single, ids.joint, ids.later).values()) == {"drafted"}


def test_the_page_works_without_javascript(client, auth, ids):
    """The select-all is a radio choice in the form; the header tick box is shown by JS."""
    auth.login("board")
    html = client.get("/letters/").get_data(as_text=True)
    assert 'name="select" value="ticked" id="select-ticked" checked' in html
    assert 'name="select" value="all" id="select-all"' in html
    assert 'id="select-page" hidden' in html
    assert 'name="csrf_token"' in html


# --- batch progress ------------------------------------------------------------------------


def test_queue_page_links_to_running_batches(client, auth, ids, app):
    with app.app_context():
        b = jobs.create_batch([ids.single, ids.joint], by=None)
        db.session.commit()
        batch_id = b.id
    auth.login("board")
    html = client.get("/letters/").get_data(as_text=True)
    assert "Batches in progress" in html
    assert f'href="/letters/batches/{batch_id}"' in html
    page = client.get(f"/letters/batches/{batch_id}").get_data(as_text=True)
    assert 'class="batch-bar"' in page and "You can leave this page" in page


def test_status_json_estimates_from_the_first_letter(client, auth, ids, app):
    auth.login("board")
    r = client.post("/letters/batches", data={"select": "all", "mode": "joint"})
    batch_id = int(r.location.rsplit("/", 1)[1])
    status = client.get(f"/letters/batches/{batch_id}.json").json
    assert status["status"] == "done" and status["eta_seconds"] is None
    assert status["eta_text"] is None
    # Read back as if the job were half-way: 2 of 3 gifts, the first letter 5 minutes ago.
    with app.app_context():
        from ceroc_donations.database import utcnow

        b = db.session.get(LetterBatch, batch_id)
        b.status, b.done, b.finished_at = "running", 2, None
        letters = db.session.execute(
            select(Letter).where(Letter.batch_id == batch_id).order_by(Letter.number)
        ).scalars()
        for letter in letters:
            letter.generated_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
    status = client.get(f"/letters/batches/{batch_id}.json").json
    assert status["status"] == "running" and status["done"] == 2
    assert 300 <= status["eta_seconds"] < 400
    assert status["eta_text"] == "about 5 minutes left"
    page = client.get(f"/letters/batches/{batch_id}").get_data(as_text=True)
    assert "about 5 minutes left" in page and "2 of 3 letters" in page
    # One gift done: no estimate yet (the first carries the start-up cost).
    with app.app_context():
        db.session.get(LetterBatch, batch_id).done = 1
        db.session.commit()
    assert client.get(f"/letters/batches/{batch_id}.json").json["eta_text"] is None


# --- the text editor -----------------------------------------------------------------------


def test_editor_places_the_preview_beside_the_texts(client, auth, ids):
    auth.login("board")
    html = client.get("/letters/texts").get_data(as_text=True)
    assert 'class="letter-editor"' in html and 'class="preview-pane"' in html
    assert "css/letters.css" in html and 'id="preview-status"' in html
    r = client.get("/static/css/letters.css")
    css = r.get_data(as_text=True)
    r.close()
    assert "@media (min-width: 1100px)" in css and "position: sticky" in css


def _words(response) -> str:
    """The page's text with the zero-width spaces the Khmer line breaking adds taken out."""
    return response.get_data(as_text=True).replace("\u200b", "").replace("\u00a0", " ")


def test_khmer_signatory_default_from_the_settings(client, auth, ids, app):
    name = "សខ ចម"  # consonants only: the PDF's text comes back in the same order
    auth.login("admin")
    r = client.post(
        "/settings",
        data={"transparency_public": "0", "signatory_name_km": f"  {name} "},
    )
    assert r.status_code == 302
    assert name in client.get("/settings").get_data(as_text=True)
    auth.logout()
    auth.login("board")
    html = client.get("/letters/texts").get_data(as_text=True)
    assert name in html and "Left empty, letters use the name from the settings" in html
    # The texts leave it empty: the preview signs with the settings' name.
    r = client.post("/letters/texts/preview", data={"signatory_name_km": ""})
    assert r.status_code == 200 and name in _words(r)
    # A name in the texts wins.
    r = client.post("/letters/texts/preview", data={"signatory_name_km": "ឈ្មោះផ្សេង"})
    assert "ឈ្មោះផ្សេង" in _words(r) and name not in _words(r)
    # Generated letters carry it too.
    client.post("/letters/batches", data={"ids": [str(ids.single)]})
    with app.app_context():
        letter = db.session.execute(
            select(Letter).where(Letter.contribution_id == ids.single)
        ).scalar_one()
        from ceroc_donations.letters import archive

        assert "សខ" in pdf_text(archive.read_pdf(letter))


def test_signatory_setting_rejects_a_too_long_name(client, auth, app):
    auth.login("admin")
    r = client.post("/settings", data={"transparency_public": "0", "signatory_name_km": "ក" * 201})
    assert r.status_code == 422 and b'id="e-signatory_name_km"' in r.data
    with app.app_context():
        from ceroc_donations.accounts import settings

        assert settings.signatory_name_km() == ""
