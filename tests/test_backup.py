"""``flask backup`` while the book is being written, then ``flask restore`` into a new instance."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from ceroc_donations import audit, backup, create_app
from ceroc_donations.accounts.models import User
from ceroc_donations.book.models import Contribution, Expense
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter
from tests.conftest import TEST_DATABASE_URL, contribution_form
from tests.letters_support import make_book

# Servers, worker processes and threads see only committed data: a database of its own.
pytestmark = pytest.mark.own_database

PDF = b"%PDF-1.4\n%a receipt\n"


def _record(user_id: int, fund_id: int, donor_id: int, n: int) -> None:
    """One gift and one expense with a receipt file: rows, ledger, audit events, a file."""
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_expense
    from ceroc_donations.book.receipts import store_receipt

    user = db.session.get(User, user_id)
    svc.record_contribution(
        parse_contribution(contribution_form(donor_id, fund_id, amount=f"{10 + n}.25")), by=user
    )
    expense = parse_expense(
        {
            "payee": "Print shop",
            "amount": f"{n + 1}.10",
            "currency": "USD",
            "exchange_rate": "1",
            "paid_on": "2014-06-20",
            "category": "printing",
            "fund_id": str(fund_id),
        }
    )
    receipt = store_receipt(PDF + str(n).encode(), f"r{n}.pdf")
    svc.record_expense(expense, by=user, receipt=receipt)
    db.session.commit()


@pytest.fixture
def restore_url(tmp_path):
    """An empty database for the restored instance: a new file, or a new PostgreSQL database."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'restored' / 'ceroc.sqlite'}"
        return
    url = make_url(TEST_DATABASE_URL)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS ceroc_restore"))
        conn.execute(text("CREATE DATABASE ceroc_restore"))
    yield url.set(database="ceroc_restore").render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS ceroc_restore WITH (FORCE)"))
    admin.dispose()


def _restored_app(url: str, folder: Path):
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "AUDIT_KEY": "test-audit-key",
            "SQLALCHEMY_DATABASE_URI": url,
            "RECEIPTS_DIR": str(folder / "receipts"),
            "ARCHIVE_DIR": str(folder / "letters"),
        }
    )


def test_backup_while_writing_then_restore(app, tmp_path, restore_url, monkeypatch):
    from ceroc_donations.letters import archive as letters

    ids = make_book(app)
    with app.app_context():
        treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        uid = treasurer.id
        letters.generate_thank_you(db.session.get(Contribution, ids.single), by=treasurer)
        _record(uid, ids.fund, ids.alice, 0)
        before = backup.facts()
        db.session.remove()

    # A writer keeps recording gifts, expenses and receipt files while the backup runs; the
    # backup waits, after its database snapshot, until the writer has written again.
    written = threading.Semaphore(0)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer():
        try:
            with app.app_context():
                n = 1
                while not stop.is_set():
                    _record(uid, ids.fund, ids.alice, n)
                    written.release()
                    n += 1
                    if n > 200:
                        break
                db.session.remove()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            written.release()

    original_add = backup._add
    waited: list[str] = []

    def add_after_a_write(tar, path, name):
        if not waited:
            waited.append(name)
            assert written.acquire(timeout=120), "the writer wrote nothing"
            assert written.acquire(timeout=120), "the writer wrote nothing"
        return original_add(tar, path, name)

    monkeypatch.setattr(backup, "_add", add_after_a_write)
    thread = threading.Thread(target=writer)
    thread.start()
    archive = tmp_path / "backup" / "ceroc.tar.gz"
    try:
        result = app.test_cli_runner().invoke(args=["backup", str(archive)])
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert result.exit_code == 0, result.output
    assert waited == [backup.DATABASE_FILES[db_dialect(app)]]

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        for entry in manifest["files"]:
            content = tar.extractfile(entry["path"]).read()
            assert hashlib.sha256(content).hexdigest() == entry["sha256"]
    assert archive.stat().st_mode & 0o077 == 0
    with app.app_context():
        after = backup.facts()
        live_letters = {
            letter.number: letter.sha256 for letter in db.session.execute(select(Letter)).scalars()
        }
        # The snapshot is a moment of the live history: the live chain still holds its head.
        kept = audit.AuditHead.parse(manifest["facts"]["audit_head"])
        assert audit.verify(kept)[1] == []
        db.session.remove()
    snap = manifest["facts"]
    assert before["contribution"]["count"] <= snap["contribution"]["count"]
    assert snap["contribution"]["count"] < after["contribution"]["count"]
    assert f"Audit head: {snap['audit_head']}" in result.output

    restored = _restored_app(restore_url, tmp_path / "restored")
    result = restored.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 0, result.output
    with restored.app_context():
        assert backup.facts() == snap
        assert str(audit.head()) == snap["audit_head"]
        count, problems = audit.verify()
        assert problems == [] and count == int(snap["audit_head"].split(":")[0])
        restored_letters = list(db.session.execute(select(Letter)).scalars())
        assert restored_letters
        for letter in restored_letters:
            pdf = letters.read_pdf(letter)  # checks the file against its SHA-256
            assert hashlib.sha256(pdf).hexdigest() == live_letters[letter.number]
        receipts = Path(restored.config["RECEIPTS_DIR"])
        for expense in db.session.execute(select(Expense)).scalars():
            content = (receipts / expense.receipt_path).read_bytes()
            assert hashlib.sha256(content).hexdigest() == expense.receipt_sha256
        db.session.remove()

    # A second restore into the now filled instance is refused, and nothing changes.
    again = restored.test_cli_runner().invoke(args=["restore", str(archive)])
    assert again.exit_code == 1 and "not empty" in again.output
    with restored.app_context():
        assert backup.facts() == snap
        db.session.remove()
        db.engine.dispose()


def db_dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def test_restore_refuses_a_tampered_archive_and_writes_nothing(app, tmp_path, restore_url):
    ids = make_book(app)
    with app.app_context():
        treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        _record(treasurer.id, ids.fund, ids.alice, 1)
        db.session.remove()
    archive = tmp_path / "b.tar.gz"
    assert app.test_cli_runner().invoke(args=["backup", str(archive)]).exit_code == 0
    # Rewrite one receipt inside the archive, leaving the manifest as it was.
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()
            if member.name.startswith("receipts/"):
                data = data.replace(b"receipt", b"RECEIPT")
            dst.addfile(member, io.BytesIO(data))
    restored = _restored_app(restore_url, tmp_path / "restored")
    result = restored.test_cli_runner().invoke(args=["restore", str(tampered)])
    assert result.exit_code == 1 and "does not match its SHA-256" in result.output
    assert not (tmp_path / "restored" / "receipts").exists()
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a backup")
    result = restored.test_cli_runner().invoke(args=["restore", str(junk)])
    assert result.exit_code == 1 and "cannot be read" in result.output
    with restored.app_context():
        assert db.inspect(db.engine).get_table_names() == []
        db.engine.dispose()


def test_restore_refuses_a_non_empty_instance(app, tmp_path):
    archive = tmp_path / "b.tar.gz"
    assert app.test_cli_runner().invoke(args=["backup", str(archive)]).exit_code == 0
    result = app.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 1 and "not empty" in result.output
