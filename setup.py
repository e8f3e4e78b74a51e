"""The wheel ships the top-level templates/, letters/ and migrations/ inside the package.

They stay at the top of the repository; here each is mapped to ``ceroc_donations/_data/<name>``,
where :func:`ceroc_donations.paths.folder` finds them at run time. Everything else about the
project is in pyproject.toml.
"""

import runpy
from pathlib import Path

from setuptools import find_namespace_packages, setup

# paths.py is the one list of these folders; it needs only the standard library.
_paths = runpy.run_path(str(Path(__file__).parent / "ceroc_donations" / "paths.py"))
SHIPPED = _paths["SHIPPED"]
PACKAGE = f"ceroc_donations.{_paths['PACKAGED']}"
# Each shipped folder and each folder inside it is a data package: setuptools then ships
# every file in it (and warns about none).
DATA = [
    f"{PACKAGE}.{name}{'.' + sub if sub else ''}"
    for name in SHIPPED
    for sub in ["", *find_namespace_packages(name, exclude=["*__pycache__"])]
]

setup(
    # Namespace discovery, so that static/ and translations/ count as (data) packages too.
    packages=[
        *find_namespace_packages(include=["ceroc_donations*"], exclude=["*__pycache__"]),
        *DATA,
    ],
    package_dir={f"{PACKAGE}.{name}": name for name in SHIPPED},
    package_data={
        "ceroc_donations": ["static/**/*", "translations/**/*"],
        **{p: ["*"] for p in DATA},
    },
    exclude_package_data={"": ["__pycache__/*", "*.pyc"]},
)
