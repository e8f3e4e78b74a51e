"""The donor picker's server side, the duplicate-name warning and merging two donors."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from ceroc_donations.accounts.models import AuditEvent, User
from ceroc_donations.book.models import Contribution, ContributionDonor, Donor, LedgerEntry
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter, letter_recipient
from tests.conftest import contribution_form


@pytest.fixture
def two(app):
    """Two spellings of one donor, each with a gift, one joint gift of both, and letters."""
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_donor

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        fund = svc.create_fund("general", "General", by=user)
        keep = svc.create_donor(
            parse_donor({"name_en": "Sokha Chea", "city": "Lowell", "public_display": "named"}),
            by=user,
        )
        other = svc.create_donor(
            parse_donor(
                {
                    "name_en": "sokha  chéa",
                    "name_km": "សុខា ជា",
                    "email": "sokha@example.org",
                    "public_display": "anonymous",
                }
            ),
            by=user,
        )
        stranger = svc.create_donor(parse_donor({"name_en": "Dara Kim"}), by=user)
        own = svc.record_contribution(
            parse_contribution(contribution_form(keep.id, fund.id, amount="100")), by=user
        )
        theirs = svc.record_contribution(
            parse_contribution(contribution_form(other.id, fund.id, amount="50")), by=user
        )
        joint_form = contribution_form(keep.id, fund.id, amount="300")
        joint = svc.record_contribution(
            parse_contribution(
                joint_form, donor_ids=[str(keep.id), str(other.id), str(stranger.id)],
                shares=["100", "150", "50"],
            ),
            by=user,
        )  # fmt: skip
        letters = []
        for number, (gift, donors) in enumerate(
            [(theirs, [other]), (joint, [keep, other, stranger])], start=1
        ):
            letter = Letter(
                number=number,
                contribution_id=gift.id,
                language="en",
                issued_on=gift.received_on,
                pdf_path=f"{number}.pdf",
                sha256="0" * 64,
                size=1,
            )
            letter.recipients = donors
            db.session.add(letter)
            letters.append(letter)
        statement = Letter(
            number=3,
            kind="statement",
            donor_id=other.id,
            year=2014,
            language="en",
            issued_on=theirs.received_on,
            pdf_path="3.pdf",
            sha256="0" * 64,
            size=1,
        )
        statement.recipients = [other]
        db.session.add(statement)
        db.session.commit()
        return {
            "keep": keep.id,
            "other": other.id,
            "stranger": stranger.id,
            "own": own.id,
            "theirs": theirs.id,
            "joint": joint.id,
            "letters": [letters[0].id, letters[1].id, statement.id],
        }


# --- the duplicate warning -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Sokha Chea", "SOKHA CHEA", "  sokha   chea ", "Sokha Chéa", "SokhaChea", "Sôkha Cheá"]
)
def test_a_new_donor_named_like_an_existing_one_is_asked_about(app, client, auth, two, name):
    auth.login("treasurer")
    r = client.post("/donors/new", data={"name_en": name, "kind": "person"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "A donor named Sokha Chea already exists" in page
    assert f'href="/donors/{two["keep"]}"' in page and "open it" in page
    assert 'name="create_anyway"' in page
    assert f'value="{name}"' in page or name.strip() in page  # what was typed is kept
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Donor)).scalar() == 3
    r = client.post("/donors/new", data={"name_en": name, "kind": "person", "create_anyway": "1"})
    assert r.status_code == 302
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Donor)).scalar() == 4


def test_the_khmer_name_is_compared_too_and_other_names_pass(app, client, auth, two):
    auth.login("treasurer")
    r = client.post("/donors/new", data={"name_en": "S. Chea", "name_km": "សុខា  ជា"})
    assert "A donor named sokha chéa already exists" in r.get_data(as_text=True)
    r = client.post("/donors/new", data={"name_en": "Sokha Cheam", "then": "contribution"})
    assert r.status_code == 302 and "/contributions/new?donor=" in r.location


def test_the_warning_escapes_names(app, client, auth, two):
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_donor

    with app.app_context():
        svc.create_donor(parse_donor({"name_en": "<b>Bold</b> Group"}), by=None)
        db.session.commit()
    auth.login("treasurer")
    page = client.post("/donors/new", data={"name_en": "<B>bold</b>  group"}).get_data(as_text=True)
    assert "<b>Bold</b>" not in page and "&lt;b&gt;Bold&lt;/b&gt; Group already exists" in page


def test_name_key_ignores_case_spacing_and_accents_but_keeps_khmer_vowels():
    from ceroc_donations.book.queries import name_key

    assert name_key("  Sokha\u00a0CHÉA ") == name_key("sokha chea") == "sokhachea"
    assert name_key("សុខា ជា") == name_key("សុខា\u200bជា")
    assert name_key("សុខា") != name_key("សខ")  # Khmer vowel signs are letters, not accents


# --- merging -------------------------------------------------------------------------------


def test_merge_moves_gifts_and_letters_and_is_audited(app, client, auth, two):
    auth.login("treasurer")
    page = client.get(f"/donors/{two['keep']}/merge").get_data(as_text=True)
    assert "Donors with the same name" in page and f"other={two['other']}" in page
    page = client.get(f"/donors/{two['keep']}/merge?other={two['other']}").get_data(as_text=True)
    assert "sokha chéa will be merged into Sokha Chea" in page
    assert "the merged donor stays anonymous" in page
    r = client.post(f"/donors/{two['keep']}/merge", data={"other": str(two["other"])})
    assert r.status_code == 302 and r.location.endswith(f"/donors/{two['keep']}")
    with app.app_context():
        assert db.session.get(Donor, two["other"]) is None
        keep = db.session.get(Donor, two["keep"])
        # blanks filled, the stricter display kept, nothing overwritten
        assert (keep.name_km, keep.email, keep.city) == ("សុខា ជា", "sokha@example.org", "Lowell")
        assert keep.public_display == "anonymous"
        theirs = db.session.get(Contribution, two["theirs"])
        assert [s.donor_id for s in theirs.shares] == [two["keep"]]
        joint = db.session.get(Contribution, two["joint"])
        assert [(s.donor_id, s.share_minor, s.position) for s in joint.shares] == [
            (two["keep"], 25000, 0),
            (two["stranger"], 5000, 1),
        ]
        label = db.session.execute(
            select(LedgerEntry.label).where(LedgerEntry.contribution_id == two["theirs"])
        ).scalar_one()
        assert label == "Sokha Chea"
        rows = db.session.execute(select(letter_recipient)).all()
        assert sorted(rows) == sorted(
            [
                (two["letters"][0], two["keep"]),
                (two["letters"][1], two["keep"]),
                (two["letters"][1], two["stranger"]),
                (two["letters"][2], two["keep"]),
            ]
        )
        assert db.session.get(Letter, two["letters"][2]).donor_id == two["keep"]
        assert (
            db.session.execute(
                select(func.count())
                .select_from(ContributionDonor)
                .where(ContributionDonor.donor_id == two["other"])
            ).scalar()
            == 0
        )
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "donor.merged")
        ).scalar_one()
        after = json.loads(event.after_json)
        assert event.entity_id == two["keep"] and after["merged_id"] == two["other"]
        assert after["contribution_ids"] == sorted([two["theirs"], two["joint"]])
        assert after["letter_ids"] == sorted(two["letters"])
        assert json.loads(event.before_json)["merged"]["email"] == "sokha@example.org"
        from ceroc_donations import audit

        assert audit.verify()[1] == []
    page = client.get(f"/donors/{two['keep']}").get_data(as_text=True)
    assert page.count("C-2014-") >= 3  # all three gifts on the kept donor's page


def test_merge_with_unknown_share_keeps_it_unknown(app, two):
    from ceroc_donations.book import service as svc

    with app.app_context():
        joint = db.session.get(Contribution, two["joint"])
        joint.shares[1].share_minor = None
        db.session.commit()
        svc.merge_donors(
            db.session.get(Donor, two["keep"]), db.session.get(Donor, two["other"]), by=None
        )
        db.session.commit()
        joint = db.session.get(Contribution, two["joint"])
        assert [s.share_minor for s in joint.shares] == [None, 5000]


@pytest.mark.parametrize("role", ["board", "member"])
def test_only_the_treasurer_merges(app, client, auth, two, role):
    auth.login(role)
    assert client.get(f"/donors/{two['keep']}/merge").status_code == 403
    r = client.post(f"/donors/{two['keep']}/merge", data={"other": str(two["other"])})
    assert r.status_code == 403
    with app.app_context():
        assert db.session.get(Donor, two["other"]) is not None


def test_merge_needs_csrf_and_two_different_donors(app, csrf_app, client, auth, two):
    app.config["WTF_CSRF_ENABLED"] = False
    auth.login("treasurer")
    app.config["WTF_CSRF_ENABLED"] = True
    r = client.post(f"/donors/{two['keep']}/merge", data={"other": str(two["other"])})
    assert r.status_code == 400
    app.config["WTF_CSRF_ENABLED"] = False
    for other in (str(two["keep"]), "999", "9" * 40, ""):
        r = client.post(f"/donors/{two['keep']}/merge", data={"other": other})
        assert r.status_code == 302 and r.location.endswith(f"/donors/{two['keep']}/merge")
    assert client.post("/donors/999/merge", data={"other": str(two["other"])}).status_code == 404
    with app.app_context():
        assert db.session.get(Donor, two["other"]) is not None
