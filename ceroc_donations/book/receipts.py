"""Receipt files: checked by content, stored under a generated name."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Response, abort, current_app, request, send_file
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
