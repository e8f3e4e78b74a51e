"""``flask backup`` / ``flask restore``: the database, the receipts and the letter archive in
one ``.tar.gz`` with a manifest of SHA-256 sums.

The database is copied first, as one consistent snapshot (SQLite's online backup, or
``pg_dump`` of an exported PostgreSQL snapshot); the files are copied after it. Receipts
and letters are written to disk before their rows are committed and never change, so every
file the copied database names is in the archive. The manifest also records facts read
from that same snapshot (the audit head, counts and totals), which ``restore`` checks again.

The secret key and the audit key are not in the archive: keep them apart from the backups
(a backup together with the audit key could be rewritten without a trace).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from flask import current_app
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, Connection

from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db

FORMAT = "ceroc-backup/1"
MANIFEST = "manifest.json"
DATABASE_FILES = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
#: The folders copied, by their name in the archive and their config key.
FOLDERS = (("receipts", "RECEIPTS_DIR"), ("letters", "ARCHIVE_DIR"))
# Half-written files (renamed into place when complete) are left out.
_TEMPORARY = re.compile(r"\.(part|tmp\d+)$")


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


# --- facts: what a snapshot holds, compared after a restore --------------------------------


def facts(conn: Connection | None = None) -> dict:
    """The audit head, counts and totals of the database seen through *conn*."""
    conn = conn or db.session.connection()
    row = conn.execute(text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")).first()
    out: dict = {"audit_head": f"{row[0]}:{row[1]}" if row else f"0:{'0' * 64}"}
    for table in ("contribution", "expense"):
        count, base = conn.execute(
            text(
                f"SELECT count(*), coalesce(sum(base_amount_minor), 0) FROM {table} "  # noqa: S608
                "WHERE voided = :no"
            ),
            {"no": False},
        ).one()
        out[table] = {"count": int(count), "base_minor": int(base)}
    out["letters"] = int(conn.execute(text("SELECT count(*) FROM letter")).scalar_one())
    return out


# --- tools --------------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore``: on PATH, else the newest installed."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if versions:
        return str(versions[-1])
    raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client).")


def _libpq(url: URL) -> tuple[str, dict]:
    """A libpq URI without the password, and the environment that carries the password."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return dsn, env


def _run(args: list[str], env: dict) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {result.stderr.strip()[:2000]}")


# --- backup --------------------------------------------------------------------------------


def _sqlite_snapshot(source: str, target: Path) -> dict:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)  # SQLite's online backup: one consistent copy while others write
        ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    if ok != "ok":
        raise BackupError(f"The database copy failed its integrity check: {ok}")
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as conn:
            return facts(conn)
    finally:
        engine.dispose()


def _postgres_snapshot(target: Path) -> dict:
    """``pg_dump`` of a snapshot exported by a transaction that reads the facts too."""
    dsn, env = _libpq(db.engine.url)
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            found = facts(conn)
            _run(
                [
                    pg_tool("pg_dump"),
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    f"--dbname={dsn}",
                ],
                env,
            )
    return found


def _folder_files(folder: Path) -> Iterator[tuple[Path, str]]:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and not _TEMPORARY.search(path.name):
            yield path, path.relative_to(folder).as_posix()


class _HashingReader:
    """Reads a file for ``tarfile`` and computes its SHA-256 on the way: one read per file."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.sha.update(data)
        return data


def _add(tar: tarfile.TarFile, path: Path, name: str) -> dict:
    with open(path, "rb") as handle:
        info = tar.gettarinfo(arcname=name, fileobj=handle)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o600
        reader = _HashingReader(handle)
        tar.addfile(info, reader)
    return {"path": name, "sha256": reader.sha.hexdigest(), "size": info.size}


def create_backup(path: Path) -> dict:
    """Write the backup archive to *path* (atomically, owner-readable only); return its manifest."""
    dialect = db.engine.dialect.name
    if dialect not in DATABASE_FILES:
        raise BackupError(f"Backups cover SQLite and PostgreSQL, not {dialect}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with tempfile.TemporaryDirectory(prefix="ceroc-backup-") as tmp:
        database = Path(tmp) / DATABASE_FILES[dialect]
        if dialect == "sqlite":
            found = _sqlite_snapshot(db.engine.url.database, database)
        else:
            found = _postgres_snapshot(database)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w:gz") as tar:
                entries = [_add(tar, database, DATABASE_FILES[dialect])]
                for prefix, key in FOLDERS:
                    folder = Path(current_app.config[key])
                    for file, relative in _folder_files(folder):
                        entries.append(_add(tar, file, f"{prefix}/{relative}"))
                manifest = {
                    "format": FORMAT,
                    "created_at": utcnow().isoformat(timespec="seconds") + "Z",
                    "dialect": dialect,
                    "database": DATABASE_FILES[dialect],
                    "facts": found,
                    "files": entries,
                }
                data = json.dumps(manifest, indent=1, ensure_ascii=False).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode, info.mtime = len(data), 0o600, int(utcnow().timestamp())
                tar.addfile(info, io.BytesIO(data))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    partial.replace(path)
    return manifest


# --- restore -------------------------------------------------------------------------------


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _refuse_unless_empty() -> None:
    tables = inspect(db.engine).get_table_names()
    if tables:
        raise BackupError(
            "The database is not empty (it has tables). restore only fills an empty instance: "
            "point CEROC_DATABASE_URL at a new database."
        )
    for _prefix, key in FOLDERS:
        folder = Path(current_app.config[key])
        if _has_files(folder):
            raise BackupError(f"{key} ({folder}) is not empty; restore needs an empty folder.")


def _safe_name(name: str) -> bool:
    pure = PurePosixPath(name)
    return not pure.is_absolute() and ".." not in pure.parts and name == pure.as_posix()


def _read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        manifest = json.load(tar.extractfile(MANIFEST))
    except (KeyError, AttributeError, ValueError) as exc:
        raise BackupError("This is not a CEROC backup: it has no readable manifest.") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r}; expected {FORMAT}.")
    if manifest.get("dialect") not in DATABASE_FILES:
        raise BackupError("The manifest names no database this version can restore.")
    return manifest


def _extract(tar: tarfile.TarFile, manifest: dict, staging: Path) -> None:
    """Write every listed file under *staging*, checking names, sizes and SHA-256 sums."""
    expected = {entry["path"]: entry for entry in manifest["files"]}
    if manifest["database"] not in expected:
        raise BackupError("The manifest does not list the database file.")
    seen = set()
    for member in tar:
        if member.name == MANIFEST:
            continue
        entry = expected.get(member.name)
        if entry is None or not member.isfile() or not _safe_name(member.name):
            raise BackupError(
                f"The archive holds {member.name!r}, which its manifest does not list."
            )
        target = staging / member.name
        target.parent.mkdir(parents=True, exist_ok=True)
        sha = hashlib.sha256()
        source = tar.extractfile(member)
        with open(target, "wb") as out:
            while chunk := source.read(1 << 20):
                sha.update(chunk)
                out.write(chunk)
        if sha.hexdigest() != entry["sha256"] or member.size != entry["size"]:
            raise BackupError(f"{member.name} does not match its SHA-256 in the manifest.")
        seen.add(member.name)
    missing = set(expected) - seen
    if missing:
        raise BackupError(f"The archive lacks {len(missing)} file(s), e.g. {sorted(missing)[0]}.")


def _move_folder(source: Path, target: Path) -> None:
    if not source.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for child in source.iterdir():
        shutil.move(str(child), str(target / child.name))


def restore_backup(path: Path) -> dict:
    """Restore the archive at *path* into this (empty) instance; return the restored facts.

    Every file is checked against the manifest before anything is put in place; afterwards
    the restored database must show the facts the manifest recorded.
    """
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        Path(db.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    _refuse_unless_empty()
    instance = Path(current_app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=instance))
    try:
        try:
            with tarfile.open(path, "r:gz") as tar:
                manifest = _read_manifest(tar)
                if manifest["dialect"] != dialect:
                    raise BackupError(
                        f"This backup is of a {manifest['dialect']} database; "
                        f"this instance uses {dialect}."
                    )
                _extract(tar, manifest, staging)
        except (tarfile.TarError, OSError, EOFError) as exc:
            if isinstance(exc, FileNotFoundError) and not path.exists():
                raise BackupError(f"No backup at {path}.") from exc
            raise BackupError(f"The archive cannot be read: {exc}") from exc
        database = staging / manifest["database"]
        db.session.remove()
        db.engine.dispose()
        if dialect == "sqlite":
            target = Path(db.engine.url.database)
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)  # an empty file, checked above
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(database), str(target))
        else:
            dsn, env = _libpq(db.engine.url)
            _run(
                [
                    pg_tool("pg_restore"),
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    f"--dbname={dsn}",
                    str(database),
                ],
                env,
            )
        for prefix, key in FOLDERS:
            _move_folder(staging / prefix, Path(current_app.config[key]))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with db.engine.connect() as conn:
        restored = facts(conn)
    if restored != manifest["facts"]:
        raise BackupError(
            "The restored database does not show what the manifest recorded: "
            f"{restored} instead of {manifest['facts']}."
        )
    return restored
