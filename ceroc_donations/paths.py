"""Where the folders the app reads are: inside the installed package, else in the checkout.

``templates/``, ``letters/`` (letter and report designs and their texts) and ``migrations/``
live at the top of the repository. The wheel ships them as ``ceroc_donations/_data/<name>``
(see ``setup.py``); a checkout, or an editable install of one, has them beside the package.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

#: The top-level folders the wheel ships inside the package.
SHIPPED = ("templates", "letters", "migrations")
#: The package folder they are shipped in.
PACKAGED = "_data"

_CHECKOUT = Path(__file__).resolve().parent.parent


@cache
def folder(name: str) -> Path:
    """The folder *name* (one of :data:`SHIPPED`), installed or in the checkout."""
    if name not in SHIPPED:
        raise ValueError(f"not a shipped folder: {name!r}")
    packaged = Path(str(files("ceroc_donations").joinpath(PACKAGED, name)))
    if packaged.is_dir():
        return packaged
    return _CHECKOUT / name
