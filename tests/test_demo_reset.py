"""``flask demo --reset`` (``make reset-demo``): back to the fresh demo, safely."""

from __future__ import annotations

from sqlalchemy import func, select

from ceroc_donations import create_app
from ceroc_donations.book.models import Contribution
from ceroc_donations.extensions import db


def _app(tmp_path):
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "AUDIT_KEY": "demo-reset-test-key",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'd.sqlite'}",
            "RECEIPTS_DIR": str(tmp_path / "storage" / "receipts"),
            "ARCHIVE_DIR": str(tmp_path / "storage" / "letters"),
            "IMPORTS_DIR": str(tmp_path / "storage" / "imports"),
        }
    )


def _gifts(app) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(Contribution)).scalar_one()
        db.engine.dispose()
        return n


def test_demo_says_the_data_is_built_in_not_fetched(tmp_path):
    result = _app(tmp_path).test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "built into the app" in result.output and "nothing is fetched" in result.output
    assert "Demo logins" in result.output


def test_reset_brings_back_the_fresh_demo_and_removes_written_files(tmp_path):
    app = _app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        from ceroc_donations.book import service as book
        from ceroc_donations.book.inputs import parse_contribution

        c = db.session.execute(select(Contribution)).scalars().first()
        data = parse_contribution(
            {
                "amount": "5",
                "currency": "USD",
                "received_on": "2014-06-01",
                "fund_id": str(c.fund_id),
            },
            donor_ids=[str(c.shares[0].donor_id)],
        )
        book.record_contribution(data, by=None)
        db.session.commit()
        db.engine.dispose()
    receipt = tmp_path / "storage" / "receipts" / "abc.png"
    receipt.parent.mkdir(parents=True, exist_ok=True)
    receipt.write_bytes(b"x")
    kept = tmp_path / "storage" / "pending-uploads" / "t.bin"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"x")
    assert _gifts(app) == 3

    # Asked first: "no" changes nothing.
    result = runner.invoke(args=["demo", "--reset"], input="n\n")
    assert result.exit_code != 0 and _gifts(app) == 3 and receipt.exists()

    result = runner.invoke(args=["demo", "--reset", "--yes"])
    assert result.exit_code == 0, result.output
    assert _gifts(app) == 2 and not receipt.exists() and not kept.exists()
    assert "janet@ceroc.example" in result.output
    assert runner.invoke(args=["verify-audit"]).exit_code == 0


def test_reset_refuses_a_database_with_real_accounts(tmp_path):
    app = _app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo"]).exit_code == 0
    result = runner.invoke(
        args=["create-user", "sokha@example.org", "--role", "treasurer"],
        input="a-long-enough-password-2026\n",
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["demo", "--reset", "--yes"])
    assert result.exit_code == 2 and "Not reset" in result.output
    assert _gifts(app) == 2


def test_reset_is_refused_in_production(tmp_path, monkeypatch):
    app = _app(tmp_path)
    app.config["ENV"] = "production"
    result = app.test_cli_runner().invoke(args=["demo", "--reset", "--yes"])
    assert result.exit_code == 2 and "not in production" in result.output
