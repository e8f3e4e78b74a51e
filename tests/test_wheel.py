"""The wheel holds everything the app reads: built from the repository, installed into a fresh
virtualenv and run from an empty folder, it migrates, loads the demo, renders a letter with
the CLI and serves ``/login`` under gunicorn.

The fresh virtualenv gets the wheel alone; its dependencies come from this environment's
site-packages through a ``.pth`` line (a plain path: the editable install of the checkout
that may sit there is not activated), so nothing but the build backend is downloaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: What the wheel is built from: the sources, not local state.
IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "instance", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    ".pytest_cache", ".hypothesis", "tests", "bench", "*.sqlite",
)  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    # The installed app runs on its own SQLite file: once per run is enough.
    pytest.mark.skipif(
        bool(os.environ.get("CEROC_TEST_DATABASE_URL")), reason="runs in the SQLite pass"
    ),
]


def _run(args: list[str], cwd: Path, env: dict, timeout: int = 300) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, deadline: float) -> int:
    """Status of GET *url*, retried while the server starts (until *deadline*)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
                return response.status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv with the wheel installed, clean environment)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=IGNORE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CEROC_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"),
          str(source)], root, env)  # fmt: skip
    [wheel] = (root / "dist").glob("ceroc_donations-*.whl")
    fresh = root / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
          str(wheel)], root, env)  # fmt: skip
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = Path(_run([str(python), "-c", where], root, env).strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (purelib / "zz_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python, env, wheel


def test_the_wheel_holds_templates_letters_and_migrations(installed):
    import zipfile

    _python, _env, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    for folder in ("templates", "letters", "migrations"):
        shipped = {n for n in names if n.startswith(f"ceroc_donations/_data/{folder}/")}
        in_repo = {
            p for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        }
        assert len(shipped) == len(in_repo), folder
    assert any(n.endswith("/km/LC_MESSAGES/messages.mo") for n in names)
    assert any(n.startswith("ceroc_donations/static/") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_installed_app_runs_from_an_empty_folder(installed, tmp_path):
    python, env, _wheel = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([str(python), "-c", "import ceroc_donations; print(ceroc_donations.__file__)"],
                 empty, env)  # fmt: skip
    assert where.startswith(str(python.parent.parent)), where
    flask = [str(python), "-m", "flask", "--app", "ceroc_donations"]
    assert "Database ready" in _run([*flask, "init-db"], empty, env)
    assert "Demo logins" in _run([*flask, "demo"], empty, env)
    _run([*flask, "letters", "render", "C-2014-0001", "--out", "x.pdf"], empty, env)
    assert (empty / "x.pdf").read_bytes().startswith(b"%PDF")

    port = _free_port()
    server = subprocess.Popen(
        [str(python), "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "ceroc_donations:create_app()"],
        cwd=empty, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert _get(f"http://127.0.0.1:{port}/login", time.monotonic() + 60) == 200
    finally:
        server.terminate()
        try:
            log = server.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            server.kill()
            log = server.communicate()[1]
    assert "GET /login 200" in log, log
    assert not list(empty.glob("*.sqlite")), "the database belongs in the instance folder"
