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
from ceroc_donations.letters import service as letters
from ceroc_donations.letters.models import Letter, LetterTextVersion
from tests.letters_support import ISSUED, make_book, page_count, pdf_text, user_of


@pytest.fixture
def ids(app):
    return make_book(app)


def test_generate_archives_pdf_with_sha_and_redownloads_same_bytes(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        made, created = letters.generate_thank_you(c, by=user_of("board"), issued_on=ISSUED)
        db.session.commit()
        assert created and len(made) == 1
        letter = made[0]
        assert letter.number == 1 and letter.status == "drafted"
        path = letters.archive_dir() / letter.pdf_path
        data = path.read_bytes()
        assert data.startswith(b"%PDF") and len(data) == letter.size
        assert hashlib.sha256(data).hexdigest() == letter.sha256
        assert letters.read_pdf(letter) == data
        assert c.thank_status == "drafted"
        assert letter.text_version.number == 1  # the default texts became version 1
        assert letter.generated_by.role == "board"
        text = pdf_text(data)
        assert "400.00" in text and "CNRP Minnesota" in text
        # Asking again returns the archived letter, no new number.
        again, created = letters.generate_thank_you(c, by=user_of("board"))
        assert not created and [x.number for x in again] == [1]
        assert str(letters.archive_dir()).startswith(app.config["ARCHIVE_DIR"])
        assert audit.verify()[1] == []


def test_archive_tampering_is_detected(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        letter = letters.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        db.session.commit()
        path = letters.archive_dir() / letter.pdf_path
        path.write_bytes(path.read_bytes() + b"%")
        with pytest.raises(letters.ArchiveError):
            letters.read_pdf(letter)


def test_rerender_gives_identical_bytes_and_dates_from_issued_day(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        letter = letters.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        db.session.commit()
        archived = letters.read_pdf(letter)
        assert letters.rerender(letter) == archived
        info = PdfReader(io.BytesIO(archived)).metadata
        # Creation and modification dates are the issued day, not the time of rendering.
        assert info["/CreationDate"].startswith("D:20261127")
        assert info["/ModDate"].startswith("D:20261127")
        # A new text version changes the letter; the old one still re-renders the same.
        texts = letters.parse_texts({"closing_en": "Warm regards,"})
        letters.save_texts(texts, by=None)
        db.session.commit()
        assert letters.rerender(letter) == archived


def test_joint_gift_one_letter_or_one_each(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.joint)
        joint = letters.generate_thank_you(c, by=None, issued_on=ISSUED)[0]
        assert len(joint) == 1
        assert {d.name_en for d in joint[0].recipients} == {"Sok Dara", "Chan Srey"}
        text = pdf_text(letters.read_pdf(joint[0]))
        assert "Sok Dara and Chan Srey" in text
        assert text.count("300.00") == 2  # details table and body: the whole amount, once each
        assert joint[0].language == "bilingual"  # en + km donors
        each, created = letters.generate_thank_you(
            c, by=None, mode="each", force=True, issued_on=ISSUED
        )
        db.session.commit()
        assert created and [x.number for x in each] == [2, 3]
        by_name = {x.recipients[0].name_en: x for x in each}
        assert by_name["Sok Dara"].language == "en" and by_name["Chan Srey"].language == "km"
        assert "100.00" in pdf_text(letters.read_pdf(by_name["Sok Dara"]))
        with pytest.raises(Invalid):
            letters.generate_thank_you(c, by=None, mode="both", force=True)


def test_yearly_statement_lists_gifts_and_total(app, ids):
    with app.app_context():
        alice = db.session.get(Donor, ids.alice)
        letter = letters.generate_statement(alice, 2014, by=None, issued_on=ISSUED)
        db.session.commit()
        assert letter.kind == "statement" and letter.year == 2014 and letter.donor_id == alice.id
        text = pdf_text(letters.read_pdf(letter))
        assert "400.00" in text and "25.50" in text and "425.50" in text
        assert letters.rerender(letter) == letters.read_pdf(letter)
        with pytest.raises(Invalid) as exc:
            letters.generate_statement(alice, 2013, by=None)
        assert "year" in exc.value.fields


def test_void_and_do_not_acknowledge_get_no_letter(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        set_thank_status(c, "do_not_acknowledge", by=None)
        with pytest.raises(Conflict):
            letters.generate_thank_you(c, by=None)
        assert letters.queue()[0].id == ids.joint


def test_text_versions_and_placeholder_errors(app, ids):
    with app.app_context():
        with pytest.raises(Invalid) as exc:
            letters.parse_texts(
                {
                    "body_en": "Thanks {donor_nme} for {amount_en",
                    "closing_en": "Yours {{sincerely}}",
                }
            )
        assert "donor_name_en" in exc.value.fields["body_en"]  # did-you-mean hint
        assert "closing_en" not in exc.value.fields
        with pytest.raises(Invalid) as exc:
            letters.parse_texts({"body_en": "{{ config }}{% for x in y %}{x.__class__}"})
        assert "Malformed" in exc.value.fields["body_en"]
        v1 = letters.save_texts(
            letters.parse_texts({"signatory_name_en": "Sam Rainsy"}), by=user_of("board")
        )
        v2 = letters.save_texts(
            letters.parse_texts({"signatory_name_en": "Kem Sokha"}), by=user_of("board")
        )
        db.session.commit()
        assert (v1.number, v2.number) == (1, 2)
        assert v1.texts["signatory_name_en"] == "Sam Rainsy"
        assert letters.current_texts()[0].signatory_name_en == "Kem Sokha"
        c = db.session.get(Contribution, ids.single)
        letter = letters.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        assert letter.text_version_id == v2.id
        assert "Kem Sokha" in pdf_text(letters.read_pdf(letter))


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
                    letters.generate_thank_you(c, by=None, issued_on=ISSUED)
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
            assert letters.read_pdf(letter)  # every row has its file
            title = PdfReader(io.BytesIO(letters.read_pdf(letter))).metadata["/Title"]
            assert f"letter {letter.number} " in title


def test_rollback_leaves_no_gap(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        letters.generate_thank_you(c, by=None, issued_on=ISSUED)
        db.session.rollback()  # e.g. a crash after the file was written
        letter = letters.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        db.session.commit()
        assert letter.number == 1
        assert letters.read_pdf(letter)


def test_batch_runs_synchronously_combined_and_zip(app, ids):
    with app.app_context():
        batch = letters.create_batch(
            [ids.later, ids.single, ids.joint], mode="joint", by=user_of("board")
        )
        db.session.commit()
        assert batch.contribution_ids == [ids.single, ids.joint, ids.later]  # oldest first
        seen = []
        letters.run_batch(batch.id, issued_on=ISSUED, progress=lambda d, t: seen.append((d, t)))
        assert seen == [(1, 3), (2, 3), (3, 3)]
        assert batch.status == "done" and batch.done == 3 and batch.finished_at
        found = letters.batch_letters(batch)
        assert [x.number for x in found] == [1, 2, 3]
        assert page_count(letters.combined_pdf(found)) == 3
        archive = zipfile.ZipFile(io.BytesIO(letters.zip_of(found)))
        assert archive.namelist() == [f"CEROC-letter-{n}.pdf" for n in (1, 2, 3)]
        assert archive.read("CEROC-letter-2.pdf") == letters.read_pdf(found[1])
        assert (
            db.session.execute(select(func.count()).select_from(LetterTextVersion)).scalar_one()
            == 1
        )
        with pytest.raises(Invalid):
            letters.create_batch([], by=None)
