"""The keyed audit chain: tampering without the key is found; the head proves the end."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import func, select, update

from ceroc_donations import audit
from ceroc_donations.accounts.models import AuditEvent, Counter
from ceroc_donations.extensions import db


@pytest.fixture
def chain(ctx, user):
    for n in range(5):
        audit.log(user, "test.event", "fund", n, after={"n": n})
    db.session.commit()
    return audit.head()


def _rehash_from(seq: int, digest) -> None:
    """What someone with only the database can do: rewrite and recompute every later hash."""
    prev = db.session.execute(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1)).scalar()
    for event in db.session.execute(
        select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq)
    ).scalars():
        event.prev_hash = prev or audit.GENESIS
        event.hash = digest(audit.event_content(event))
        prev = event.hash
    db.session.commit()


def test_hash_is_an_hmac_under_the_audit_key(app, chain):
    event = db.session.execute(select(AuditEvent).where(AuditEvent.seq == 3)).scalar_one()
    expected = hmac.new(b"test-audit-key", audit.event_content(event), hashlib.sha256).hexdigest()
    assert event.hash == expected
    assert event.hash != hashlib.sha256(audit.event_content(event)).hexdigest()


def test_head_is_the_last_event(chain):
    last = db.session.execute(select(func.max(AuditEvent.seq))).scalar()
    assert chain.seq == last and len(chain.hash) == 64
    assert audit.AuditHead.parse(str(chain)) == chain


@pytest.mark.parametrize(
    "digest",
    [
        lambda content: hashlib.sha256(content).hexdigest(),
        lambda content: hmac.new(b"a-guessed-key", content, hashlib.sha256).hexdigest(),
    ],
    ids=["plain sha-256", "wrong key"],
)
def test_rewriting_an_event_and_recomputing_without_the_key_fails(chain, digest):
    db.session.execute(
        update(AuditEvent).where(AuditEvent.seq == 3).values(after_json='{"n": 999}')
    )
    _rehash_from(3, digest)
    _, problems = audit.verify()
    assert 3 in {p.seq for p in problems}
    _, problems = audit.verify(chain)
    assert problems


def test_deleting_the_last_event_fails_against_the_kept_head(chain):
    assert audit.verify(chain)[1] == []
    db.session.execute(db.delete(AuditEvent).where(AuditEvent.seq == chain.seq))
    # ... and winding the counter back, so that nothing looks missing at the end
    db.session.execute(update(Counter).where(Counter.name == "audit").values(value=chain.seq - 1))
    db.session.commit()
    assert audit.verify()[1] == []  # without a kept head this cannot be seen ...
    _, problems = audit.verify(chain)  # ... with it, it is
    assert [p.seq for p in problems] == [chain.seq]
    assert "cut off the end" in problems[0].message


def test_kept_head_older_than_the_chain_is_fine(chain, user):
    audit.log(user, "test.event", "fund", 99)
    db.session.commit()
    assert audit.verify(chain)[1] == []
    wrong = audit.AuditHead(chain.seq, "f" * 64)
    assert "differs" in audit.verify(wrong)[1][0].message


def test_verify_audit_command_prints_and_checks_the_head(app, runner, chain):
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 0 and f"Head: {chain}" in result.output
    result = runner.invoke(args=["verify-audit", "--expect-head", str(chain)])
    assert result.exit_code == 0 and "holds the head" in result.output
    longer = audit.AuditHead(chain.seq + 1, chain.hash)
    result = runner.invoke(args=["verify-audit", "--expect-head", str(longer)])
    assert result.exit_code == 1 and "cut off the end" in result.output
    result = runner.invoke(args=["verify-audit", "--expect-head", f"{chain.seq}:{'a' * 64}"])
    assert result.exit_code == 1 and "differs" in result.output
    result = runner.invoke(args=["verify-audit", "--expect-head", "12:xyz"])
    assert result.exit_code == 2 and "SEQ:HASH" in result.output


def test_audit_page_shows_the_head_and_checks_a_kept_one(app, client, auth, chain):
    auth.login("admin")
    page = client.get("/audit").get_data(as_text=True)
    assert chain.hash in page and f"event {chain.seq}" in page
    r = client.post("/audit/verify", data={"expect_head": str(chain)}, follow_redirects=True)
    assert "holds the head you kept" in r.get_data(as_text=True)
    longer = f"{chain.seq + 5}:{chain.hash}"
    r = client.post("/audit/verify", data={"expect_head": longer}, follow_redirects=True)
    assert "cut off the end" in r.get_data(as_text=True)
    r = client.post("/audit/verify", data={"expect_head": "junk"}, follow_redirects=True)
    assert r.status_code == 200 and "64 hex digits" in r.get_data(as_text=True)


def test_empty_chain_head(ctx):
    assert str(audit.head()) == "0:" + "0" * 64
    assert audit.verify(audit.head())[1] == []


def test_migration_keys_an_existing_plain_chain(tmp_path, capfd, caplog):
    """Events written before the key existed are checked, then re-chained under the key."""
    from flask_migrate import downgrade, upgrade

    from ceroc_donations import create_app
    from ceroc_donations.database import utcnow

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "AUDIT_KEY": "migration-key",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.sqlite'}",
        }
    )
    with app.app_context():
        upgrade(revision="ccd03bc2ab85")
        prev = audit.GENESIS
        for seq in (1, 2, 3):
            event = AuditEvent(
                seq=seq,
                at=utcnow(),
                actor="system",
                action="old.event",
                entity_type="fund",
                entity_id=seq,
                prev_hash=prev,
            )
            event.hash = hashlib.sha256(audit.event_content(event)).hexdigest()  # the old rule
            prev = event.hash
            db.session.execute(
                db.insert(AuditEvent.__table__).values(
                    seq=event.seq,
                    at=event.at,
                    actor=event.actor,
                    action=event.action,
                    entity_type=event.entity_type,
                    entity_id=event.entity_id,
                    prev_hash=event.prev_hash,
                    hash=event.hash,
                )
            )
        db.session.execute(db.insert(Counter.__table__).values(name="audit", value=3))
        db.session.commit()
        db.session.remove()
        upgrade()
        count, problems = audit.verify()
        assert count == 3 and problems == []
        db.session.remove()
        downgrade(revision="ccd03bc2ab85")  # and back: plain hashes again
        db.session.remove()
        rows = db.session.execute(db.text("SELECT seq, hash FROM audit_event ORDER BY seq")).all()
        assert (
            rows[0][1]
            == db.session.execute(
                db.text("SELECT prev_hash FROM audit_event WHERE seq = 2")
            ).scalar()
        )
        # a chain tampered with before the upgrade stops it
        db.session.execute(db.text("UPDATE audit_event SET actor = 'x' WHERE seq = 2"))
        db.session.commit()
        db.session.remove()
        with pytest.raises(SystemExit):
            upgrade()
        # Flask-Migrate logs the refusal: to stderr, or to the app's log handler.
        said = capfd.readouterr().err + caplog.text
        assert "Audit event 2 was altered" in said
        db.session.remove()
        version = db.session.execute(db.text("SELECT version_num FROM alembic_version")).scalar()
        assert version == "ccd03bc2ab85"
        db.session.remove()
        db.engine.dispose()
