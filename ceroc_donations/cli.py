"""``flask --app ceroc_donations …`` commands."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from ceroc_donations import translations_cli
from ceroc_donations.extensions import db


def _upgrade() -> None:
    from flask_migrate import upgrade

    upgrade()


def register_cli(app: Flask) -> None:
    from ceroc_donations.letters.cli import register as register_letters

    register_letters(app)
    translations_cli.register(app)  # flask translations update|compile|init

    @app.cli.command("init-db")
    def init_db():
        """Create or migrate the database to the newest schema."""
        _upgrade()
        click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")

    @app.cli.command("demo")
    def demo():
        """Migrate, then load the seed's demo data (once) and print the demo logins."""
        from ceroc_donations.demo import load_demo

        _upgrade()
        logins = load_demo()
        db.session.commit()
        click.echo("Demo data loaded from CEROC's published page. Demo logins:")
        for email, role, password in logins:
            click.echo(f"  {role:<10} {email:<24} {password}")

    @app.cli.command("create-user")
    @click.argument("email")
    @click.option(
        "--role", required=True, type=click.Choice(["admin", "treasurer", "board", "member"])
    )
    @click.option("--name", default=None, help="Full name (default: the part before @).")
    def create_user(email, role, name):
        """Create an account; the password is read from a prompt or standard input."""
        from ceroc_donations.accounts import service as users
        from ceroc_donations.book.inputs import Invalid

        if sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\n")
        try:
            user = users.create_user(email, name or email.split("@")[0], role, password, by=None)
        except Invalid as exc:
            for field, message in exc.fields.items():
                click.echo(f"{field}: {message}", err=True)
            raise SystemExit(2) from None
        db.session.commit()
        click.echo(f"Created {user.role} {user.email}")

    @app.cli.command("create-token")
    @click.argument("email")
    @click.option("--label", default="cli")
    def create_token(email, label):
        """Print a new API token for EMAIL (shown once; only its hash is stored)."""
        from ceroc_donations.accounts import service as users
        from ceroc_donations.accounts.models import User

        user = db.session.execute(select(User).where(User.email == email)).scalar()
        if user is None:
            click.echo(f"No account with email {email}", err=True)
            raise SystemExit(2)
        token = users.create_token(user, label, by=None)
        db.session.commit()
        click.echo(token)

    @app.cli.command("backup")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    def backup(path: Path):
        """Write a consistent copy of the SQLite database to PATH, while the app runs."""
        url = db.engine.url
        if url.get_backend_name() != "sqlite":
            click.echo("backup copies SQLite databases; for PostgreSQL use pg_dump.", err=True)
            raise SystemExit(2)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        src = sqlite3.connect(url.database)
        dst = sqlite3.connect(tmp)
        try:
            with dst:
                src.backup(dst)  # SQLite's online backup: a consistent snapshot
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
            src.close()
        if ok != "ok":
            tmp.unlink(missing_ok=True)
            click.echo(f"Backup failed its integrity check: {ok}", err=True)
            raise SystemExit(1)
        tmp.replace(path)
        click.echo(f"Backup written to {path} ({path.stat().st_size:,} bytes)")

    @app.cli.command("verify-audit")
    def verify_audit():
        """Check the hash chain of the audit trail; exit 1 if any event was altered or removed."""
        from ceroc_donations.audit import verify

        count, problems = verify()
        for p in problems:
            click.echo(f"event {p.seq}: {p.message}")
        if problems:
            click.echo(f"{len(problems)} problem(s) in {count} events.")
            raise SystemExit(1)
        click.echo(f"Audit chain intact: {count} events.")
