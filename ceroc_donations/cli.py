"""``flask --app ceroc_donations …`` commands."""

from __future__ import annotations

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
    @click.option(
        "--reset",
        is_flag=True,
        help="First delete the demo: every table and every file the app wrote. Refused "
        "when the database has an account that is not one of the demo's.",
    )
    @click.option("--yes", is_flag=True, help="Do not ask before --reset deletes.")
    def demo(reset, yes):
        """Migrate, then load the demo data built into the app (once) and print the logins."""
        from ceroc_donations.demo import load_demo, only_demo_accounts, wipe_demo
        from ceroc_donations.security import is_production

        if is_production(app):
            click.echo("The demo accounts have published passwords: not in production.", err=True)
            raise SystemExit(2)
        if reset:
            if not only_demo_accounts():
                click.echo(
                    "Not reset: this database has accounts that are not the demo's, so it "
                    "holds real work. Use a backup and restore instead.",
                    err=True,
                )
                raise SystemExit(2)
            url = db.engine.url.render_as_string(hide_password=True)
            if not yes:
                click.confirm(
                    f"Delete the demo in {url} and its files, then load it again?", abort=True
                )
            for folder in wipe_demo(app.config):
                click.echo(f"Removed {folder}")
            click.echo(f"Emptied {url}")
        _upgrade()
        logins = load_demo()
        db.session.commit()
        click.echo(
            "Demo data loaded: it is built into the app, taken from the text CEROC published "
            "on its web page (nothing is fetched from the network). Demo logins:"
        )
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
        """Write the database, receipts and letter archive to PATH (.tar.gz), while the app runs."""
        from ceroc_donations.backup import BackupError, create_backup

        try:
            manifest = create_backup(path)
        except BackupError as exc:
            click.echo(str(exc), err=True)
            raise SystemExit(1) from None
        click.echo(
            f"Backup written to {path} ({path.stat().st_size:,} bytes, "
            f"{len(manifest['files'])} files). Audit head: {manifest['facts']['audit_head']}"
        )

    @app.cli.command("restore")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    def restore(path: Path):
        """Restore a backup made by ``flask backup`` into this empty instance."""
        from ceroc_donations.backup import BackupError, restore_backup

        try:
            restored = restore_backup(path)
        except BackupError as exc:
            click.echo(str(exc), err=True)
            raise SystemExit(1) from None
        click.echo(
            f"Restored from {path}: {restored['contribution']['count']} contributions, "
            f"{restored['expense']['count']} expenses, {restored['letters']} letters. "
            f"Audit head: {restored['audit_head']}. "
            "Run `flask init-db` to bring the schema up to date, then `flask verify-audit` "
            "(with the audit key of the old instance)."
        )

    @app.cli.command("verify-audit")
    @click.option(
        "--expect-head",
        metavar="SEQ:HASH",
        default=None,
        help="A head printed earlier and kept elsewhere: fail unless the chain still holds it.",
    )
    def verify_audit(expect_head):
        """Check the keyed hash chain of the audit trail; exit 1 if anything was altered or cut."""
        from ceroc_donations.audit import AuditHead, head, verify

        expected = None
        if expect_head is not None:
            try:
                expected = AuditHead.parse(expect_head)
            except ValueError as exc:
                click.echo(f"--expect-head: {exc}", err=True)
                raise SystemExit(2) from None
        count, problems = verify(expected)
        for p in problems:
            click.echo(f"event {p.seq}: {p.message}")
        click.echo(f"Head: {head()}")
        if problems:
            click.echo(f"{len(problems)} problem(s) in {count} events.")
            raise SystemExit(1)
        if expected is not None:
            click.echo(f"Audit chain intact: {count} events; it holds the head {expected}.")
        else:
            click.echo(f"Audit chain intact: {count} events.")

    @app.cli.command("set-password")
    @click.argument("email")
    def set_password(email):
        """Set EMAIL's password (read from a prompt or standard input); their sessions end."""
        from ceroc_donations.accounts import service as users
        from ceroc_donations.accounts.models import User
        from ceroc_donations.book.inputs import Invalid

        user = db.session.execute(select(User).where(User.email == email)).scalar()
        if user is None:
            click.echo(f"No account with email {email}", err=True)
            raise SystemExit(2)
        if sys.stdin.isatty():
            password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\n")
        try:
            users.set_password_by_admin(user, password, by=None)
        except Invalid as exc:
            click.echo(f"password: {exc.fields['password']}", err=True)
            raise SystemExit(2) from None
        db.session.commit()
        click.echo(f"Password of {user.email} set.")
