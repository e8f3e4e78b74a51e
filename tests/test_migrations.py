"""The app runs on a migrated database: the migrations must build exactly the models' schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from ceroc_donations import create_app
from ceroc_donations.extensions import db


def test_migrations_match_models(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.sqlite'}",
        }
    )
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        db.engine.dispose()
    assert diff == [], "run `flask --app ceroc_donations db migrate` and commit the migration"


def test_demo_command_on_a_fresh_database(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'd.sqlite'}",
            "RECEIPTS_DIR": str(tmp_path / "r"),
            "ARCHIVE_DIR": str(tmp_path / "l"),
        }
    )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "janet@ceroc.example" in result.output
    again = runner.invoke(args=["demo"])  # loading twice adds nothing
    assert again.exit_code == 0
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 0 and "intact" in result.output
    backup = tmp_path / "backup.sqlite"
    result = runner.invoke(args=["backup", str(backup)])
    assert result.exit_code == 0 and backup.stat().st_size > 0
    with app.app_context():
        from sqlalchemy import func, select

        from ceroc_donations.book.models import Contribution

        refs = db.session.execute(select(Contribution.reference)).scalars().all()
        assert sorted(refs) == ["C-2014-0001", "C-2014-0002"]
        assert db.session.execute(select(func.count()).select_from(Contribution)).scalar() == 2
        db.engine.dispose()


def test_create_user_reads_password_from_stdin(runner):
    result = runner.invoke(
        args=["create-user", "new@test.example", "--role", "board"],
        input="a-long-enough-password\n",
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["create-user", "bad", "--role", "board"], input="short\n")
    assert result.exit_code == 2 and "email" in result.output
