"""``flask --app ceroc_donations translations update|compile|init LANG``: catalogue chores.

``update`` extracts every marked string (babel.cfg at the repository root) into a fresh
template and merges it into each catalogue; new msgids arrive empty, changed ones fuzzy, and
``pytest tests/test_i18n.py`` then lists what is left to translate. ``compile`` writes the
``.mo`` files the app loads (they are committed, so a fresh clone needs no compile step).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import click
from flask import Flask

#: ``update`` and ``init`` read the sources, so they run in a checkout; ``compile`` runs anywhere.
CHECKOUT = Path(__file__).resolve().parent.parent
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# pybabel's defaults (_, gettext, ngettext:1,2, N_ …) stay on; naming "ngettext" again
# without its spec would extract only the singular and lose the plural form.
KEYWORDS = ("_l", "lazy_gettext", "lazy_ngettext:1,2")


def _pybabel(*args: str) -> None:
    command = [sys.executable, "-m", "babel.messages.frontend", *args]
    if subprocess.run(command, cwd=CHECKOUT).returncode != 0:
        raise click.ClickException("pybabel " + args[0] + " failed")


def _extract(pot: Path) -> None:
    if not (CHECKOUT / "babel.cfg").is_file():
        raise click.ClickException("extracting strings needs a checkout (babel.cfg not found)")
    keywords = [arg for k in KEYWORDS for arg in ("-k", k)]
    _pybabel(
        "extract",
        "-F",
        str(CHECKOUT / "babel.cfg"),
        *keywords,
        "--no-location",
        "--sort-output",
        "--project",
        "CEROC Donations",
        "-o",
        str(pot),
        ".",
    )


def register(app: Flask) -> None:
    @app.cli.group()
    def translations():
        """Extract, update and compile the message catalogues."""

    @translations.command()
    def update():
        """Extract marked strings and merge them into every catalogue."""
        with tempfile.TemporaryDirectory() as tmp:
            pot = Path(tmp) / "messages.pot"
            _extract(pot)
            _pybabel(
                "update", "-i", str(pot), "-d", str(TRANSLATIONS), "--no-wrap", "--ignore-obsolete"
            )

    @translations.command()
    def compile():
        """Compile the catalogues to the .mo files the app loads."""
        _pybabel("compile", "-d", str(TRANSLATIONS), "--statistics")

    @translations.command()
    @click.argument("lang")
    def init(lang):
        """Start a catalogue for a new language LANG."""
        with tempfile.TemporaryDirectory() as tmp:
            pot = Path(tmp) / "messages.pot"
            _extract(pot)
            _pybabel("init", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", lang, "--no-wrap")
