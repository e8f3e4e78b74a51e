"""The wheel ships the top-level templates/, letters/ and migrations/ inside the package.

They stay at the top of the repository; here each is mapped to ``ceroc_donations/_data/<name>``,
where :func:`ceroc_donations.paths.folder` finds them at run time. Everything else about the
project is in pyproject.toml.
"""

import runpy
from pathlib import Path

from setuptools import find_packages, setup

# paths.py is the one list of these folders; it needs only the standard library.
_paths = runpy.run_path(str(Path(__file__).parent / "ceroc_donations" / "paths.py"))
SHIPPED = _paths["SHIPPED"]
DATA = [f"ceroc_donations.{_paths['PACKAGED']}.{name}" for name in SHIPPED]

setup(
    packages=find_packages(include=["ceroc_donations*"]) + DATA,
    package_dir={package: name for package, name in zip(DATA, SHIPPED, strict=True)},
    package_data={
        "ceroc_donations": ["static/**/*", "translations/**/*"],
        **{package: ["**/*"] for package in DATA},
    },
    exclude_package_data={"": ["**/__pycache__/*", "__pycache__/*", "*.pyc"]},
)
