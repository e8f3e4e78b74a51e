"""Letters around the pure renderer: numbering, archive, reproducibility, joint gifts,
statements, text versions, batches."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from ceroc_donations import audit
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution, Donor
from ceroc_donations.book.service import Conflict, set_thank_status
from ceroc_donations.extensions import db
from ceroc_donations.letters import archive, delivery, jobs
from ceroc_donations.letters import texts as letter_texts
from ceroc_donations.letters.models import Letter, LetterTextVersion
from tests.letters_support import ISSUED, make_book, page_count, pdf_text, user_of


@pytest.fixture
def ids(app):
    return make_book(app)


def test_generate_archives_pdf_with_sha_and_redownloads_same_bytes(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        made, created = archive.generate_thank_you(c, by=user_of("board"), issued_on=ISSUED)
        db.session.commit()
        assert created and len(made) == 1
        letter = made[0]
        assert letter.number == 1 and letter.status == "drafted"
        path = archive.archive_dir() / letter.pdf_path
        data = path.read_bytes()
        assert data.startswith(b"%PDF") and len(data) == letter.size
        assert hashlib.sha256(data).hexdigest() == letter.sha256
        assert archive.read_pdf(letter) == data
        assert c.thank_status == "drafted"
        assert letter.text_version.number == 1  # the default texts became version 1
        assert letter.generated_by.role == "board"
        text = pdf_text(data)
        assert "400.00" in text and "CNRP Minnesota" in text
        # Asking again returns the archived letter, no new number.
        again, created = archive.generate_thank_you(c, by=user_of("board"))
        assert not created and [x.number for x in again] == [1]
        assert str(archive.archive_dir()).startswith(app.config["ARCHIVE_DIR"])
        assert audit.verify()[1] == []


def test_archive_tampering_is_detected(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        letter = archive.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        db.session.commit()
        path = archive.archive_dir() / letter.pdf_path
        path.write_bytes(path.read_bytes() + b"%")
        with pytest.raises(archive.ArchiveError):
            archive.read_pdf(letter)


def test_rerender_gives_identical_bytes_and_dates_from_issued_day(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        letter = archive.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        db.session.commit()
        archived = archive.read_pdf(letter)
        assert archive.rerender(letter) == archived
        info = PdfReader(io.BytesIO(archived)).metadata
        # Creation and modification dates are the issued day, not the time of rendering.
        assert info["/CreationDate"].startswith("D:20261127")
        assert info["/ModDate"].startswith("D:20261127")
        # A new text version changes the letter; the old one still re-renders the same.
        texts = letter_texts.parse_texts({"closing_en": "Warm regards,"})
        letter_texts.save_texts(texts, by=None)
        db.session.commit()
        assert archive.rerender(letter) == archived


def test_joint_gift_one_letter_or_one_each(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.joint)
        joint = archive.generate_thank_you(c, by=None, issued_on=ISSUED)[0]
        assert len(joint) == 1
        assert {d.name_en for d in joint[0].recipients} == {"Sok Dara", "Chan Srey"}
        text = pdf_text(archive.read_pdf(joint[0]))
        assert "Sok Dara and Chan Srey" in text
        assert text.count("300.00") == 2  # details table and body: the whole amount, once each
        assert joint[0].language == "bilingual"  # en + km donors
        each, created = archive.generate_thank_you(
            c, by=None, mode="each", force=True, issued_on=ISSUED
        )
        db.session.commit()
        assert created and [x.number for x in each] == [2, 3]
        by_name = {x.recipients[0].name_en: x for x in each}
        assert by_name["Sok Dara"].language == "en" and by_name["Chan Srey"].language == "km"
        assert "100.00" in pdf_text(archive.read_pdf(by_name["Sok Dara"]))
        with pytest.raises(Invalid):
            archive.generate_thank_you(c, by=None, mode="both", force=True)


def test_yearly_statement_lists_gifts_and_total(app, ids):
    with app.app_context():
        alice = db.session.get(Donor, ids.alice)
        letter = archive.generate_statement(alice, 2014, by=None, issued_on=ISSUED)
        db.session.commit()
        assert letter.kind == "statement" and letter.year == 2014 and letter.donor_id == alice.id
        text = pdf_text(archive.read_pdf(letter))
        assert "400.00" in text and "25.50" in text and "425.50" in text
        assert archive.rerender(letter) == archive.read_pdf(letter)
        with pytest.raises(Invalid) as exc:
            archive.generate_statement(alice, 2013, by=None)
        assert "year" in exc.value.fields


def test_void_and_do_not_acknowledge_get_no_letter(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        set_thank_status(c, "do_not_acknowledge", by=None)
        with pytest.raises(Conflict):
            archive.generate_thank_you(c, by=None)
        assert delivery.queue()[0].id == ids.joint


def test_text_versions_and_placeholder_errors(app, ids):
    with app.app_context():
        with pytest.raises(Invalid) as exc:
            letter_texts.parse_texts(
                {
                    "body_en": "Thanks {donor_nme} for {amount_en",
                    "closing_en": "Yours {{sincerely}}",
                }
            )
        assert "donor_name_en" in exc.value.fields["body_en"]  # did-you-mean hint
        assert "closing_en" not in exc.value.fields
        with pytest.raises(Invalid) as exc:
            letter_texts.parse_texts({"body_en": "{{ config }}{% for x in y %}{x.__class__}"})
        assert "Malformed" in exc.value.fields["body_en"]
        v1 = letter_texts.save_texts(
            letter_texts.parse_texts({"signatory_name_en": "Sam Rainsy"}), by=user_of("board")
        )
        v2 = letter_texts.save_texts(
            letter_texts.parse_texts({"signatory_name_en": "Kem Sokha"}), by=user_of("board")
        )
        db.session.commit()
        assert (v1.number, v2.number) == (1, 2)
        assert v1.texts["signatory_name_en"] == "Sam Rainsy"
        assert letter_texts.current_texts()[0].signatory_name_en == "Kem Sokha"
        c = db.session.get(Contribution, ids.single)
        letter = archive.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        assert letter.text_version_id == v2.id
        assert "Kem Sokha" in pdf_text(archive.read_pdf(letter))


@pytest.mark.own_database
def test_numbers_are_gap_free_when_two_generate_at_once(app, ids):
    """Two threads, each with its own session and SQLite connection, generate at once."""
    with app.app_context():
        extra = []
        for i in range(4):
            from ceroc_donations.book import service as svc
            from ceroc_donations.book.inputs import parse_contribution
            from tests.conftest import contribution_form

            extra.append(
                svc.record_contribution(
                    parse_contribution(
                        contribution_form(ids.alice, ids.fund, amount=f"{10 + i}.00")
                    ),
                    by=None,
                ).id
            )
        db.session.commit()
    work = [[ids.single, extra[0], extra[1]], [ids.later, extra[2], extra[3]]]
    barrier = threading.Barrier(2)
    errors = []

    def generate(cids):
        try:
            with app.app_context():
                barrier.wait()
                for cid in cids:
                    c = db.session.get(Contribution, cid)
                    archive.generate_thank_you(c, by=None, issued_on=ISSUED)
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=generate, args=(w,)) for w in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with app.app_context():
        numbers = sorted(db.session.execute(select(Letter.number)).scalars())
        assert numbers == list(range(1, 7))
        for letter in db.session.execute(select(Letter)).scalars():
            assert archive.read_pdf(letter)  # every row has its file
            title = PdfReader(io.BytesIO(archive.read_pdf(letter))).metadata["/Title"]
            assert f"letter {letter.number} " in title


def test_rollback_leaves_no_gap(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        archive.generate_thank_you(c, by=None, issued_on=ISSUED)
        db.session.rollback()  # e.g. a crash after the file was written
        letter = archive.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        db.session.commit()
        assert letter.number == 1
        assert archive.read_pdf(letter)


def test_batch_runs_synchronously_combined_and_zip(app, ids):
    with app.app_context():
        batch = jobs.create_batch(
            [ids.later, ids.single, ids.joint], mode="joint", by=user_of("board")
        )
        db.session.commit()
        assert batch.contribution_ids == [ids.single, ids.joint, ids.later]  # oldest first
        seen = []
        jobs.run_batch(batch.id, issued_on=ISSUED, progress=lambda d, t: seen.append((d, t)))
        assert seen == [(1, 3), (2, 3), (3, 3)]
        assert batch.status == "done" and batch.done == 3 and batch.finished_at
        found = jobs.batch_letters(batch)
        assert [x.number for x in found] == [1, 2, 3]
        assert page_count(archive.combined_pdf(found)) == 3
        zipped = zipfile.ZipFile(io.BytesIO(archive.zip_of(found)))
        assert zipped.namelist() == [f"CEROC-letter-{n}.pdf" for n in (1, 2, 3)]
        assert zipped.read("CEROC-letter-2.pdf") == archive.read_pdf(found[1])
        assert (
            db.session.execute(select(func.count()).select_from(LetterTextVersion)).scalar_one()
            == 1
        )
        with pytest.raises(Invalid):
            jobs.create_batch([], by=None)


def _record(app, donor_id, fund_id, **form):
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution
    from tests.conftest import contribution_form

    c = svc.record_contribution(
        parse_contribution(contribution_form(donor_id, fund_id, **form)), by=None
    )
    db.session.flush()
    return c


def test_joint_gift_thanked_each_is_thanked_only_when_every_letter_is_sent(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.joint)
        made, _ = archive.generate_thank_you(c, by=None, mode="each", issued_on=ISSUED)
        names = {m.recipients[0].name_en: m for m in made}
        assert [s for _, s in delivery.co_donor_statuses(c)] == ["drafted", "drafted"]
        delivery.mark_sent(names["Sok Dara"], "print", by=None)
        assert c.thank_status == "drafted"  # Chan Srey's letter is not sent yet
        assert {d.name_en: s for d, s in delivery.co_donor_statuses(c)} == {
            "Sok Dara": "sent",
            "Chan Srey": "drafted",
        }
        assert ids.joint in [g.id for g in delivery.queue()]
        delivery.mark_sent(names["Chan Srey"], "email", by=None)
        assert c.thank_status == "sent"
        assert ids.joint not in [g.id for g in delivery.queue()]
        # One letter to all: sending it thanks every co-donor at once.
        single = db.session.get(Contribution, ids.single)
        letter = archive.generate_thank_you(single, by=None, issued_on=ISSUED)[0][0]
        delivery.mark_sent(letter, "print", by=None)
        assert single.thank_status == "sent"


def test_thank_status_set_by_hand_follows_the_rules(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        with pytest.raises(Invalid) as exc:
            delivery.set_by_hand(c, "sent", by=None)
        assert "status" in exc.value.fields
        delivery.set_by_hand(c, "do_not_acknowledge", by=None)
        assert c.thank_status == "do_not_acknowledge"
        delivery.set_by_hand(c, "not_thanked", by=None)
        archive.generate_thank_you(c, by=None, issued_on=ISSUED)
        with pytest.raises(Conflict):  # a drafted letter exists now
            delivery.set_by_hand(c, "do_not_acknowledge", by=None)
        assert c.thank_status == "drafted"


def test_draft_has_no_number_and_a_visible_draft_mark(app, ids):
    from ceroc_donations.letters import data as letter_data
    from ceroc_donations.rendering import Donor as LetterDonor
    from ceroc_donations.rendering import LetterData

    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        draft = letter_data.draft_data(c)
        assert draft.number is None and draft.draft
        texts = letter_texts.current_texts()[0]
        html = archive.preview_html(draft, texts)
        assert 'class="draft-mark"' in html and "DRAFT" in html and "ព្រាង" in html
        assert "Thank you letter DRAFT" in html
        text = pdf_text(archive.render_pdf(draft, texts))
        assert "DRAFT" in text and "Thank you letter DRAFT" in text
        # A draft takes no number: the first generated letter is number 1, unmarked.
        letter = archive.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        assert letter.number == 1
        archived = pdf_text(archive.read_pdf(letter))
        assert "DRAFT" not in archived and "Thank you letter 1" in archived
        assert "draft-mark" not in archive.preview_html(letter_data.data_of(letter), texts)
        # An English-only draft is marked in English only.
        english = LetterData(
            number=None,
            reference="C-1",
            issued_on=ISSUED,
            donors=(LetterDonor("A"),),
            amount=draft.amount,
            language="en",
        )
        html = archive.preview_html(english, texts)
        assert "DRAFT" in html and "ព្រាង" not in html


def test_statement_shows_each_gift_in_its_currency_and_the_total_in_base(app, ids):
    from ceroc_donations.letters import data as letter_data

    with app.app_context():
        _record(
            app,
            ids.alice,
            ids.fund,
            amount="150.00",
            currency="AUD",
            exchange_rate="0.66",
            received_on="2014-10-01",
        )
        # Sok Dara's share of a joint gift in Canadian dollars: CA$60 of CA$100 at 0.9.
        _record(
            app,
            ids.bob,
            ids.fund,
            donor_ids=[str(ids.bob), str(ids.chan)],
            amount="100.00",
            currency="CAD",
            exchange_rate="0.9",
            shares=["60.00", "40.00"],
            received_on="2014-11-01",
        )
        db.session.commit()
        alice = db.session.get(Donor, ids.alice)
        data = letter_data.statement_data(alice, 2014, number=None, issued_on=ISSUED)
        shown = [(g.amount.minor, g.amount.currency, g.base_amount) for g in data.gifts]
        assert shown[:2] == [(40000, "USD", None), (2550, "USD", None)]
        assert shown[2][:2] == (15000, "AUD") and shown[2][2].minor == 9900
        assert (data.amount.minor, data.amount.currency) == (40000 + 2550 + 9900, "USD")
        letter = archive.generate_statement(alice, 2014, by=None, issued_on=ISSUED)
        text = pdf_text(archive.read_pdf(letter))
        assert "A$150.00 (= $99.00)" in text and "$524.50" in text
        bob = db.session.get(Donor, ids.bob)
        data = letter_data.statement_data(bob, 2014, number=None, issued_on=ISSUED)
        cad = data.gifts[-1]
        assert (cad.amount.minor, cad.amount.currency, cad.base_amount.minor) == (6000, "CAD", 5400)
        assert data.amount.minor == 10000 + 5400  # his US$100 share of the joint gift + US$54


def test_statement_year_rule(app, ids):
    from datetime import date

    from ceroc_donations.letters import data as letter_data

    with app.app_context():
        alice = db.session.get(Donor, ids.alice)
        for year in (None, 1989, date.today().year + 1):
            with pytest.raises(Invalid) as exc:
                archive.generate_statement(alice, year, by=None)
            assert "year" in exc.value.fields
        assert letter_data.check_statement_year(2014) == 2014


def test_failed_batch_says_so_for_people_and_logs_the_traceback(app, ids, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    app.config["ARCHIVE_DIR"] = str(blocker)
    with app.app_context():
        batch = jobs.create_batch([ids.single], by=None)
        db.session.commit()
        with caplog.at_level("ERROR", logger="ceroc_donations.letters.jobs"):
            with pytest.raises(OSError):
                jobs.run_batch(batch.id, issued_on=ISSUED)
        db.session.refresh(batch)
        assert batch.status == "failed"
        assert ids.single_ref in batch.error and "server log" in batch.error
        assert "Errno" not in batch.error and "not-a-folder" not in batch.error
    record = next(r for r in caplog.records if r.name == "ceroc_donations.letters.jobs")
    assert record.exc_info and issubclass(record.exc_info[0], OSError)
