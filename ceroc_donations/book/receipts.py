"""Receipt files: checked by content, stored under a generated name."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Response, abort, current_app, render_template, request, send_file
from flask_babel import format_decimal
from flask_babel import gettext as _

#: Magic numbers of the accepted types, with the extension used on disk.
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
EXTENSIONS = {
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}


class ReceiptError(ValueError):
    pass


@dataclass(frozen=True)
class StoredReceipt:
    path: str  # generated file name inside RECEIPTS_DIR
    original_name: str
    mime: str
    sha256: str


def sniff(head: bytes) -> tuple[str, str] | None:
    for magic, mime, ext in SIGNATURES:
        if head.startswith(magic):
            return mime, ext
    return None


def check_receipt(content: bytes, filename: str, *, max_bytes: int) -> tuple[str, str]:
    """Return (mime, extension) or raise :class:`ReceiptError` with a message for the field."""
    if not content:
        raise ReceiptError(_("The receipt file is empty."))
    if len(content) > max_bytes:
        raise ReceiptError(
            _("The receipt is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024))
        )
    found = sniff(content[:16])
    if found is None:
        raise ReceiptError(_("Upload a PDF, JPEG or PNG file."))
    mime, ext = found
    claimed = EXTENSIONS.get(os.path.splitext(filename or "")[1].lower())
    if claimed is not None and claimed != mime:
        raise ReceiptError(
            _("The file's content does not match its name: upload the real PDF, JPEG or PNG.")
        )
    return mime, ext


def read_upload(upload, errors: dict) -> tuple[bytes, str] | None:
    """Read and check an uploaded receipt (a ``FileStorage``, or None when none was sent).

    A problem goes into ``errors["receipt"]``. Nothing is stored: the caller stores the
    file with :func:`store_receipt` once the whole form is valid.
    """
    if upload is None or not upload.filename:
        return None
    limit = current_app.config["MAX_RECEIPT_BYTES"]
    content = upload.read(limit + 1)
    try:
        check_receipt(content, upload.filename, max_bytes=limit)
    except ReceiptError as exc:
        errors["receipt"] = str(exc)
        return None
    return content, upload.filename


def receipts_dir() -> Path:
    path = Path(current_app.config["RECEIPTS_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_receipt(content: bytes, filename: str) -> StoredReceipt:
    """Check and write *content*; the name on disk is random, never the uploaded one."""
    mime, ext = check_receipt(content, filename, max_bytes=current_app.config["MAX_RECEIPT_BYTES"])
    name = secrets.token_hex(16) + ext
    target = receipts_dir() / name
    tmp = target.with_suffix(".part")
    tmp.write_bytes(content)
    os.replace(tmp, target)
    original = os.path.basename((filename or "receipt").replace("\\", "/"))[:255] or "receipt"
    return StoredReceipt(name, original, mime, hashlib.sha256(content).hexdigest())


def receipt_file(path: str) -> Path:
    if not path or "/" in path or path.startswith("."):
        raise FileNotFoundError(path)
    return receipts_dir() / path


def send_receipt(path: str | None, mime: str | None, name: str | None) -> Response:
    """The stored receipt as a response (shown inline, or saved with ``?download=1``);
    404 when there is none. Never run as a page: no sniffing, no scripts, not cached."""
    if not path:
        abort(404)
    try:
        file = receipt_file(path)
    except FileNotFoundError:
        abort(404)
    if not file.exists():
        abort(404)
    response = send_file(
        file,
        mimetype=mime,
        download_name=name,
        as_attachment=request.args.get("download") == "1",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def viewer(entry, src: str, back: str) -> str:
    """The page that shows *entry*'s receipt (a gift, expense or claim) fitted to the
    screen, with the way back to the entry; 404 when it has none."""
    if not entry.receipt_path:
        abort(404)
    return render_template(
        "book/receipt.html",
        reference=entry.reference,
        name=entry.receipt_name,
        mime=entry.receipt_mime or "",
        src=src,
        back=back,
    )


# -- Receipts kept between a rejected form and its corrected submit ----------------------
#
# A browser never re-sends a file after a page with errors, so a checked upload is kept on
# the server under a random token (a hidden field of the re-shown form) for an hour. The
# token is bound to the person who uploaded it; expired ones are removed the next time any
# upload is kept.

PENDING_SECONDS = 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass(frozen=True)
class Upload:
    """A checked receipt from the form: a new file, or the one kept under *token*."""

    content: bytes
    filename: str
    token: str | None = None


@dataclass(frozen=True)
class PendingReceipt:
    """An upload kept for a form to be submitted again, as the page shows it."""

    token: str
    name: str
    size: int
    mime: str

    @property
    def size_text(self) -> str:
        return size_text(self.size)


def size_text(size: int) -> str:
    """``1.2 MB`` / ``640 KB``, in the page's language."""
    if size >= 1024 * 1024:
        return _("%(size)s MB", size=format_decimal(size / (1024 * 1024), "#,##0.#"))
    return _("%(size)s KB", size=format_decimal(max(1, round(size / 1024)), "#,##0"))


def pending_dir() -> Path:
    """``pending-uploads/`` beside ``receipts/``: in ``STORAGE_DIR`` (or the instance
    folder) by default, on the same disk as ``RECEIPTS_DIR`` when that is set apart.
    Never served, never part of the stored receipts."""
    path = Path(current_app.config["RECEIPTS_DIR"]).parent / "pending-uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pending_files(token: str) -> tuple[Path, Path] | None:
    if not isinstance(token, str) or _TOKEN.fullmatch(token) is None:
        return None
    folder = pending_dir()
    return folder / f"{token}.bin", folder / f"{token}.json"


def drop_expired(now: float | None = None) -> int:
    """Remove kept uploads older than :data:`PENDING_SECONDS`; return how many."""
    now = time.time() if now is None else now
    removed = 0
    for path in pending_dir().iterdir():
        try:
            if now - path.stat().st_mtime > PENDING_SECONDS:
                path.unlink()
                removed += path.suffix == ".json"
        except FileNotFoundError:  # removed by another worker meanwhile
            pass
    return removed


def keep_pending(upload: Upload, user_id: int) -> PendingReceipt:
    """Keep a checked upload for *user_id*'s next submit of the form (a new token, or the
    same one when the upload came from a token already)."""
    if upload.token and (kept := load_pending(upload.token, user_id)) is not None:
        return kept
    drop_expired()
    mime, _ext = check_receipt(
        upload.content, upload.filename, max_bytes=current_app.config["MAX_RECEIPT_BYTES"]
    )
    token = secrets.token_urlsafe(24)
    data, meta = _pending_files(token)  # type: ignore[misc]
    name = os.path.basename((upload.filename or "receipt").replace("\\", "/"))[:255] or "receipt"
    data.write_bytes(upload.content)
    meta.write_text(json.dumps({"user": user_id, "name": name, "mime": mime}), "utf-8")
    return PendingReceipt(token, name, len(upload.content), mime)


def load_pending(token: str, user_id: int) -> PendingReceipt | None:
    """The upload kept under *token* for *user_id*; None when the token is malformed,
    expired, unknown or someone else's."""
    files = _pending_files(token)
    if files is None:
        return None
    data, meta = files
    try:
        info = json.loads(meta.read_text("utf-8"))
        size = data.stat().st_size
        fresh = time.time() - meta.stat().st_mtime <= PENDING_SECONDS
    except (FileNotFoundError, ValueError):
        return None
    if not fresh or info.get("user") != user_id:
        return None
    return PendingReceipt(token, info["name"], size, info["mime"])


def discard_pending(token: str | None) -> None:
    """Forget a kept upload (once the form was saved, or when the person removed it)."""
    files = _pending_files(token) if token else None
    for path in files or ():
        path.unlink(missing_ok=True)


def form_receipt(errors: dict, user_id: int, *, required: bool = False) -> Upload | None:
    """The receipt a form sends: a new file (``receipt``) replaces the one kept from an
    earlier, rejected submit (``receipt_token``), unless ``receipt_remove`` is ticked.

    A problem goes into ``errors["receipt"]``; nothing is stored here.
    """
    upload = request.files.get("receipt")
    token = request.form.get("receipt_token", "")
    if upload is not None and upload.filename:
        read = read_upload(upload, errors)
        if read and token and load_pending(token, user_id) is not None:
            discard_pending(token)  # replaced by the new file
        return Upload(*read) if read else None
    if token and not request.form.get("receipt_remove"):
        kept = load_pending(token, user_id)
        if kept is None:
            errors["receipt"] = _(
                "The receipt attached earlier has expired (kept for an hour): choose the file "
                "again."
            )
            return None
        data, _meta = _pending_files(token)  # type: ignore[misc]
        return Upload(data.read_bytes(), kept.name, token)
    if token and load_pending(token, user_id) is not None:
        discard_pending(token)  # removed by its uploader
    if required:
        errors["receipt"] = _("Add a photo or scan of the receipt.")
    return None


def held_receipt(upload: Upload | None, user_id: int) -> PendingReceipt | None:
    """Keep *upload* for the re-shown form after a rejected submit."""
    return keep_pending(upload, user_id) if upload is not None else None


def too_large_message() -> str:
    """Said by the file field when the server refused a request as too large (413)."""
    return _(
        "The file was too large to send (receipts may be at most %(size)s). Nothing was "
        "saved: choose a smaller file or a smaller photo and submit again.",
        size=receipt_limit(),
    )


def receipt_limit() -> str:
    """The largest receipt the app takes, as the page says it (``10.0 MB``)."""
    return size_text(current_app.config["MAX_RECEIPT_BYTES"])
