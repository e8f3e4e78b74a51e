"""What deploy/ holds is valid: systemd units, Caddyfile, nginx site, gunicorn settings, scripts.

``systemd-analyze`` and ``nginx`` may be missing on a developer's machine (the check is then
skipped); under CI (``CI`` set) every tool must be there. ``scripts/setup.sh --test``
installs them all.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.serving_support import ROOT, free_port, server_env

DEPLOY = ROOT / "deploy"
UNITS = sorted(p.name for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))
INSTALL_DIR = "/srv/ceroc"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: scripts/setup.sh --test installs it")
        pytest.skip(f"{name} is not installed here")
    return path


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def test_the_units_are_the_ones_readme_names():
    assert UNITS == [
        "ceroc-backup.service",
        "ceroc-backup.timer",
        "ceroc-web.service",
        "ceroc-worker.service",
    ]
    readme = (ROOT / "README.md").read_text()
    for name in [*UNITS, "Caddyfile", "nginx-ceroc.conf", "postgres-setup.sh", "backup.sh"]:
        assert f"deploy/{name}" in readme, name


def test_systemd_units_verify(tmp_path):
    tool = _tool("systemd-analyze")
    # The units name the install folder /srv/ceroc; verify checks that their programs exist,
    # so they are checked as installed in this checkout.
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        assert INSTALL_DIR in text or name.endswith(".timer")
        (tmp_path / name).write_text(text.replace(INSTALL_DIR, str(ROOT)))
    result = _run([tool, "verify", *(str(tmp_path / n) for n in UNITS)])
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warned about


def test_systemd_verify_catches_a_mistake(tmp_path):
    tool = _tool("systemd-analyze")
    text = (DEPLOY / "ceroc-backup.service").read_text().replace(INSTALL_DIR, str(ROOT))
    (tmp_path / "ceroc-backup.service").write_text(text.replace("Type=oneshot", "Type=oneshoot"))
    result = _run([tool, "verify", str(tmp_path / "ceroc-backup.service")])
    assert "oneshoot" in result.stderr


def test_caddyfile_validates(tmp_path):
    caddy = shutil.which("caddy")
    assert caddy, "caddy is missing: scripts/setup.sh --test installs it"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    result = _run(
        [caddy, "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr
    broken = tmp_path / "Caddyfile"
    broken.write_text((DEPLOY / "Caddyfile").read_text().replace("reverse_proxy", "reverse_prox"))
    result = _run([caddy, "validate", "--config", str(broken), "--adapter", "caddyfile"], env=env)
    assert result.returncode != 0


def test_nginx_site_is_valid(tmp_path):
    nginx = _tool("nginx")
    temp = tmp_path / "temp"
    temp.mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n"
        f"  access_log off;\n"
        + "".join(
            f"  {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {DEPLOY / 'nginx-ceroc.conf'};\n}}\n"
    )
    result = _run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"])
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_gunicorn_check_config(tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'check.sqlite'}", tmp_path)
    cmd = [sys.executable, "-m", "gunicorn", "--check-config", "-c"]
    result = _run([*cmd, str(DEPLOY / "gunicorn.conf.py")], cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    # --check-config builds the app: production mode without a secret key fails it.
    env.pop("CEROC_SECRET_KEY")
    env["CEROC_ENV"] = "production"
    result = _run([*cmd, str(DEPLOY / "gunicorn.conf.py")], cwd=ROOT, env=env)
    assert result.returncode != 0
    assert "secret key" in result.stdout + result.stderr


def test_gunicorn_settings_are_sized_to_the_machine(tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'check.sqlite'}", tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--print-config",
        "-c",
        str(DEPLOY / "gunicorn.conf.py"),
    ]

    def settings(**extra) -> dict[str, str]:
        out = _run(cmd, cwd=ROOT, env={**env, **extra}).stdout
        return {
            k.strip(): v.strip() for k, _, v in (line.partition("=") for line in out.splitlines())
        }

    cores = len(os.sched_getaffinity(0))
    s = settings()
    assert s["workers"] == str(max(2, min(cores, 8)))
    assert (s["worker_class"], s["threads"], s["accesslog"]) == ("gthread", "4", "-")
    assert s["wsgi_app"] == "ceroc_donations:create_app()"
    assert int(s["graceful_timeout"]) > 0
    s = settings(CEROC_WEB_WORKERS="3", CEROC_WEB_THREADS="2", CEROC_BIND="0.0.0.0:9000")
    assert (s["workers"], s["threads"], s["bind"]) == ("3", "2", "['0.0.0.0:9000']")


def test_scripts_parse():
    for name in ("backup.sh", "postgres-setup.sh"):
        path = DEPLOY / name
        assert os.access(path, os.X_OK), f"{name} is not executable"
        result = _run(["bash", "-n", str(path)])
        assert result.returncode == 0, result.stderr


def test_backup_script_keeps_the_newest_copies(tmp_path):
    """deploy/backup.sh on SQLite: a consistent copy, the archive files, N copies kept."""
    db_path = tmp_path / "live.sqlite"
    env = server_env(f"sqlite:///{db_path}", tmp_path / "storage")
    flask = [sys.executable, "-m", "flask", "--app", "ceroc_donations"]
    result = _run([*flask, "init-db"], cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    letter = tmp_path / "storage" / "letters" / "2014" / "L-1.pdf"
    letter.parent.mkdir(parents=True)
    letter.write_bytes(b"%PDF-1.7 letter")
    backups = tmp_path / "backups"
    backups.mkdir()
    older = [f"ceroc-2020010{d}T030000Z.tar.gz" for d in (1, 2, 3)]
    for name in older:
        (backups / name).write_bytes(b"old")
    (backups / "notes.txt").write_text("not a backup: left alone")

    env.update(CEROC_BACKUP_DIR=str(backups), CEROC_BACKUP_KEEP="2")
    result = _run(["bash", str(DEPLOY / "backup.sh")], env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    names = sorted(p.name for p in backups.iterdir() if p.is_file())
    made = [n for n in names if n.startswith("ceroc-") and n not in older]
    assert len(made) == 1
    # The newest two copies stay (today's and the 3 January one), the older ones go.
    assert names == sorted([made[0], older[2], "notes.txt"])
    with tarfile.open(backups / made[0]) as archive:  # `flask backup`: database + manifest
        manifest = json.load(archive.extractfile("manifest.json"))
        archive.extract(manifest["database"], tmp_path / "copy", filter="data")
    with sqlite3.connect(tmp_path / "copy" / manifest["database"]) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
    assert (backups / "files" / "letters" / "2014" / "L-1.pdf").read_bytes() == letter.read_bytes()

    env["CEROC_BACKUP_KEEP"] = "none"
    result = _run(["bash", str(DEPLOY / "backup.sh")], env=env)
    assert result.returncode == 2
    assert Path(backups / made[0]).exists()


def test_postgres_setup_makes_the_role_and_database_once():
    """deploy/postgres-setup.sh on a throwaway cluster; its URL form (socket folder in
    ``host=``) is one the app connects with."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not bins or os.getuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("needs PostgreSQL (scripts/setup.sh --test) and root, as in CI")
        pytest.skip("needs PostgreSQL's binaries and root (runuser -u postgres)")
    pg = bins[-1]
    # Not pytest's tmp_path: the postgres user must reach it (and a socket path is short).
    tmp_path = Path(tempfile.mkdtemp(prefix="ceroc-pgsetup-"))
    shutil.chown(tmp_path, "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    port = str(free_port())
    assert (
        _run([*as_pg, str(pg / "initdb"), "-D", f"{tmp_path}/data", "-U", "postgres"]).returncode
        == 0
    )
    opts = f"-p {port} -k {tmp_path} -c listen_addresses=''"
    start = [*as_pg, str(pg / "pg_ctl"), "-D", f"{tmp_path}/data", "-o", opts, "-w", "start"]
    assert _run([*start, "-l", f"{tmp_path}/log"]).returncode == 0
    try:
        env = {**os.environ, "PGHOST": str(tmp_path), "PGPORT": port}
        first = _run(["bash", str(DEPLOY / "postgres-setup.sh")], env=env)
        assert first.returncode == 0, first.stderr
        assert "Created role ceroc" in first.stdout
        assert "Created database ceroc" in first.stdout
        again = _run(["bash", str(DEPLOY / "postgres-setup.sh")], env=env)
        assert again.returncode == 0, again.stderr
        assert "Created" not in again.stdout
        url = again.stdout.strip().splitlines()[-1].removeprefix("CEROC_DATABASE_URL=")
        assert url == "postgresql+psycopg://ceroc@/ceroc?host=/run/postgresql"
        # The same form, pointed at this cluster's socket folder: the app migrates through it
        # (as the role postgres: peer authentication would want a system user ceroc).
        local = url.replace("ceroc@", "postgres@").replace("/run/postgresql", f"{tmp_path}")
        server = server_env(local + f"&port={port}", tmp_path)
        flask = [sys.executable, "-m", "flask", "--app", "ceroc_donations", "init-db"]
        result = _run(flask, cwd=ROOT, env=server)
        assert result.returncode == 0, result.stderr
        assert "Database ready: postgresql+psycopg://" in result.stdout
        bad = _run(["bash", str(DEPLOY / "postgres-setup.sh"), "Robert'); DROP"], env=env)
        assert bad.returncode == 2
    finally:
        _run([*as_pg, str(pg / "pg_ctl"), "-D", f"{tmp_path}/data", "-m", "fast", "stop"])
        shutil.rmtree(tmp_path, ignore_errors=True)
