"""CSV import of contributions: a preview that checks every row, then all rows or none.

The uploaded bytes are kept under ``instance/imports/<token>.csv`` with a small JSON record
(SHA-256, who uploaded it); the confirm step reads them back, checks the hash and validates
everything again against the database as it is then. Each row goes through
:func:`~ceroc_donations.book.inputs.parse_contribution`, the same rules as the form.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from flask import current_app, has_request_context
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ceroc_donations import audit
from ceroc_donations.accounts import settings
from ceroc_donations.accounts.models import User
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import (
    Checker,
    Invalid,
    base_currency,
    parse_contribution,
    parse_donor,
)
from ceroc_donations.book.models import Contribution, ContributionDonor, Donor, Fund
from ceroc_donations.book.queries import name_key
from ceroc_donations.demo import CANADA_EN, CANADA_KM, MINNESOTA_EN, MINNESOTA_KM
from ceroc_donations.extensions import db
from ceroc_donations.money import MAX_BOOK_MINOR, Money, format_plain

#: Columns in the order of the template; header names are matched case-insensitively.
COLUMNS = (
    "donor",
    "donor_km",
    "amount",
    "currency",
    "exchange_rate",
    "received_on",
    "received_by",
    "occasion",
    "occasion_km",
    "purpose",
    "purpose_km",
    "method",
    "fund",
    "note",
    "donor_country",
)
REQUIRED = ("donor", "amount", "currency", "received_on", "fund")
#: parse_contribution's field names → the CSV column a message belongs next to.
FIELD_COLUMN = {
    "donor_ids": "donor",
    "shares": "donor",
    "fund_id": "fund",
    "in_kind_description": "method",
    "public_display": "note",
}
ROW = ""  # key of a message about the row as a whole
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
#: Stored uploads are removed after this many seconds (imported or not: the audit keeps
#: the file's SHA-256 and the contributions keep the data).
KEEP_SECONDS = 2 * 24 * 3600


def _(message: str, **values) -> str:
    """Translated in a request (the page's language); plain English elsewhere (CLI, tests)."""
    if has_request_context():
        return gettext(message, **values)
    return message % values if values else message


class FileProblem(ValueError):
    """The file as a whole cannot be read (size, encoding, header, row count)."""


class ImportNotFound(ValueError):
    """The token does not name a stored upload of this user, or its content changed."""


class NotReady(ValueError):
    """The confirm found errors or unacknowledged duplicates: show the preview again."""

    def __init__(self, message: str, preview: Preview):
        super().__init__(message)
        self.preview = preview


@dataclass
class Row:
    line: int  # the spreadsheet's row number (header = 1)
    cells: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    donor_names: list[str] = field(default_factory=list)
    donor_km: list[str] = field(default_factory=list)
    unknown_donors: list[str] = field(default_factory=list)
    new_donors: list[str] = field(default_factory=list)  # unknown, to be created
    fields: dict[str, str] = field(default_factory=dict)
    amount: Money | None = None
    base: Money | None = None  # the amount in the base currency, when the row is valid


@dataclass
class Preview:
    sha256: str
    encoding: str
    delimiter: str
    rows: list[Row]
    create_missing: bool

    @property
    def fallback_encoding(self) -> bool:
        return self.encoding != "utf-8"

    @property
    def error_rows(self) -> list[Row]:
        return [r for r in self.rows if r.errors]

    @property
    def warning_rows(self) -> list[Row]:
        return [r for r in self.rows if r.warnings]

    @property
    def missing_donors(self) -> list[str]:
        seen: dict[str, str] = {}
        for r in self.rows:
            for name in r.unknown_donors:
                seen.setdefault(name.casefold(), name)
        return list(seen.values())

    @property
    def totals(self) -> list[Money]:
        sums: dict[str, int] = defaultdict(int)
        for r in self.rows:
            if r.amount is not None and not r.errors:
                sums[r.amount.currency] += r.amount.minor
        return [Money(v, k) for k, v in sorted(sums.items())]


@dataclass(frozen=True)
class ImportResult:
    contributions: list[Contribution]
    created_donors: list[Donor]
    already_imported: bool = False


def limits() -> tuple[int, int]:
    """(bytes, rows) an upload may have."""
    cfg = current_app.config
    return cfg["IMPORT_MAX_BYTES"], cfg["IMPORT_MAX_ROWS"]


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


# --- reading the file ----------------------------------------------------------------------


def decode(content: bytes) -> tuple[str, str]:
    """Text and the encoding used: UTF-8 (BOM or not), else Windows-1252, else Latin-1."""
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:  # five bytes are undefined in Windows-1252
        return content.decode("latin-1"), "latin-1"


def _delimiter(text: str) -> str:
    """Comma or semicolon, whichever the header line uses more (Excel in Europe: ``;``)."""
    first = text.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def read_rows(content: bytes) -> tuple[str, str, list[tuple[int, dict[str, str]]]]:
    """Check size, encoding and header; return (encoding, delimiter, [(line, cells)])."""
    max_bytes, max_rows = limits()
    if len(content) > max_bytes:
        raise FileProblem(
            _(
                "The file is larger than %(size)s: split it into smaller files.",
                size=_size(max_bytes),
            )
        )
    if not content.strip():
        raise FileProblem(_("The file is empty."))
    text, encoding = decode(content)
    delimiter = _delimiter(text)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise FileProblem(
            _("The file is not a readable CSV file (%(detail)s).", detail=str(exc))
        ) from None
    header = [h.strip().lower() for h in records[0]] if records else []
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        raise FileProblem(
            _(
                "Unknown column(s): %(cols)s. The columns are: %(all)s.",
                cols=", ".join(unknown),
                all=", ".join(COLUMNS),
            )
        )
    doubled = sorted({h for h in header if h and header.count(h) > 1})
    if doubled:
        raise FileProblem(_("Column(s) given twice: %(cols)s.", cols=", ".join(doubled)))
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise FileProblem(
            _("The first row must name the columns; missing: %(cols)s.", cols=", ".join(missing))
        )
    rows: list[tuple[int, dict[str, str]]] = []
    for index, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # spreadsheets leave empty rows (";;;;") at the end
        if len(record) > len(header) and any(c.strip() for c in record[len(header) :]):
            cells = {
                ROW: _(
                    "This row has %(n)d cells but the header has %(m)d: look for a stray %(d)s.",
                    n=len(record),
                    m=len(header),
                    d=delimiter,
                )
            }
        else:
            cells = {}
        for name, value in zip(header, record, strict=False):
            if name:
                cells[name] = value
        rows.append((index, cells))
    if not rows:
        raise FileProblem(_("The file has no rows below the header."))
    if len(rows) > max_rows:
        raise FileProblem(
            _(
                "The file has %(n)d rows; import at most %(max)d at a time: "
                "split it into smaller files.",
                n=len(rows),
                max=max_rows,
            )
        )
    return encoding, delimiter, rows


# --- checking the rows ---------------------------------------------------------------------


def _normal(name: str) -> str:
    return " ".join(name.split()).casefold()


def _donor_index() -> dict[str, list[int]]:
    index: dict[str, list[int]] = defaultdict(list)
    for donor_id, name in db.session.execute(select(Donor.id, Donor.name_en)):
        index[_normal(name)].append(donor_id)
    return index


def _fund_index() -> dict[str, int]:
    """Fund ids by code and by English name (codes win)."""
    index: dict[str, int] = {}
    funds = list(db.session.execute(select(Fund.id, Fund.code, Fund.name_en)))
    for fund_id, _code, name in funds:
        index.setdefault(_normal(name), fund_id)
    for fund_id, code, _name in funds:
        index[_normal(code)] = fund_id
    return index


def _new_donor(row: Row, index: int, name: str, **more: str) -> dict[str, str]:
    """The form fields of the row's *index*-th donor when the import creates it."""
    return {
        "name_en": name,
        "name_km": row.donor_km[index] if index < len(row.donor_km) else "",
        # Only for donors the import creates: a known donor's record is not changed.
        "country": row.cells.get("donor_country", "").strip().upper(),
        **more,
    }


def _check_donors(row: Row, donors: dict[str, list[int]], create_missing: bool) -> list[str]:
    """Fill ``row.donor_names``; return the ids of known donors; put messages on the row."""
    raw = " ".join(row.cells.get("donor", "").split())
    if not raw:
        row.errors["donor"] = _("Enter the donor's English name (several joined with “ & ”).")
        return []
    names = [n.strip() for n in raw.split(" & ") if n.strip()]
    row.donor_names = names
    km_raw = row.cells.get("donor_km", "").strip()
    row.donor_km = [k.strip() for k in km_raw.split("&")] if km_raw else []
    if row.donor_km and len(row.donor_km) != len(names):
        row.errors["donor_km"] = _(
            "Give one Khmer name per donor, in the same order, joined "
            "with “ & ” (leave a part empty when unknown)."
        )
    if len({_normal(n) for n in names}) != len(names):
        row.errors["donor"] = _("The same donor is listed twice.")
        return []
    ids: list[str] = []
    unknown: list[str] = []
    for i, name in enumerate(names):
        found = donors.get(_normal(name), [])
        if len(found) > 1:
            row.errors["donor"] = _(
                "Several donors are named “%(name)s”: record this gift "
                "with the form, or rename one of them.",
                name=name,
            )
            return []
        if found:
            ids.append(str(found[0]))
            continue
        unknown.append(name)
        try:
            parse_donor(_new_donor(row, i, name))
        except Invalid as exc:
            for field_name, column in (
                ("name_km", "donor_km"),
                ("country", "donor_country"),
                ("name_en", "donor"),
            ):
                if field_name in exc.fields:
                    row.errors[column] = exc.fields[field_name]
    row.unknown_donors = unknown
    if unknown and not create_missing:
        row.errors.setdefault(
            "donor",
            _(
                "No donor named %(names)s. Add the donor first, or tick “create missing donors”.",
                names=", ".join(f"“{n}”" for n in unknown),
            ),
        )
    elif unknown:
        row.new_donors = unknown
    return ids


def _check_row(row: Row, donors, funds, create_missing: bool) -> None:
    ids = _check_donors(row, donors, create_missing)
    fund_raw = row.cells.get("fund", "").strip()
    fund_id = funds.get(_normal(fund_raw)) if fund_raw else None
    row.fields = {
        k: row.cells.get(k, "")
        for k in COLUMNS
        if k not in ("donor", "donor_km", "donor_country", "fund")
    }
    row.fields["fund_id"] = str(fund_id) if fund_id else ""
    try:
        # Decimal commas from European spreadsheets ("12,50") are read by money.py's one
        # rule; a number that could be read two ways is refused with both readings.
        parse_contribution(row.fields, donor_ids=ids, shares=[])
    except Invalid as exc:
        for name, message in exc.fields.items():
            if name == "donor_ids" and (row.new_donors or "donor" in row.errors):
                continue  # the donor column has its own message, or the donor will be created
            row.errors.setdefault(FIELD_COLUMN.get(name, name), message)
    if fund_raw and fund_id is None:
        row.errors["fund"] = _("No fund with the code or name “%(fund)s”.", fund=fund_raw)
    # The amount for totals and duplicate checks, read by the same rules as the form.
    c = Checker(row.fields)
    currency = c.currency()
    row.amount = c.money("amount", currency) if not c.errors else None
    if "amount" in row.errors:
        row.amount = None
    elif row.amount is not None:
        rate = c.rate("exchange_rate", currency, base_currency())
        row.base = c.base_value(row.amount, rate, base_currency())


def _duplicate_key(row: Row, donors: dict[str, list[int]]):
    who = frozenset(
        ("id", donors[_normal(n)][0]) if donors.get(_normal(n)) else ("name", _normal(n))
        for n in row.donor_names
    )
    return who, row.amount.minor, row.amount.currency, row.fields.get("received_on", "").strip()


def _flag_duplicates(rows: list[Row], donors: dict[str, list[int]]) -> None:
    candidates = [r for r in rows if not r.errors and r.amount is not None]
    by_key: dict[tuple, list[Row]] = defaultdict(list)
    for r in candidates:
        by_key[_duplicate_key(r, donors)].append(r)
    for group in by_key.values():
        if len(group) > 1:
            for r in group:
                others = ", ".join(str(o.line) for o in group if o is not r)
                r.warnings.append(
                    _(
                        "Same donors, amount, currency and date as row %(rows)s of this file.",
                        rows=others,
                    )
                )
    days = sorted({k[3] for k in by_key})
    if not days:
        return
    recorded: dict[int, tuple] = {}
    shares: dict[int, set] = defaultdict(set)
    for start in range(0, len(days), 500):
        chunk = [date.fromisoformat(day) for day in days[start : start + 500]]
        stmt = (
            select(
                Contribution.id,
                Contribution.reference,
                Contribution.amount_minor,
                Contribution.currency,
                Contribution.received_on,
                ContributionDonor.donor_id,
            )
            .join(ContributionDonor)
            .where(Contribution.received_on.in_(chunk), Contribution.voided.is_(False))
        )
        for cid, ref, minor, cur, day, donor_id in db.session.execute(stmt):
            recorded[cid] = (ref, minor, cur, day.isoformat())
            shares[cid].add(("id", donor_id))
    for cid, (ref, minor, cur, day) in recorded.items():
        for r in by_key.get((frozenset(shares[cid]), minor, cur, day), []):
            r.warnings.append(
                _("Same donors, amount, currency and date as %(ref)s, already recorded.", ref=ref)
            )


def preview(content: bytes, *, create_missing: bool = False) -> Preview:
    """Read and check every row against the database; nothing is written."""
    encoding, delimiter, raw_rows = read_rows(content)
    donors = _donor_index()
    funds = _fund_index()
    rows = []
    for line, cells in raw_rows:
        row = Row(line, cells)
        if ROW in cells:
            row.errors[ROW] = cells[ROW]
        _check_row(row, donors, funds, create_missing)
        rows.append(row)
    _check_room(rows)
    _flag_duplicates(rows, donors)
    _flag_similar_names(rows)
    return Preview(hashlib.sha256(content).hexdigest(), encoding, delimiter, rows, create_missing)


def _flag_similar_names(rows: list[Row]) -> None:
    """Warn when a donor to be created is named like one on file (case, spacing, accents)."""
    if not any(r.new_donors for r in rows):
        return
    on_file = {name_key(n): n for n in db.session.execute(select(Donor.name_en)).scalars()}
    for row in rows:
        for name in row.new_donors:
            similar = on_file.get(name_key(name))
            if similar:
                row.warnings.append(
                    _(
                        "“%(name)s” would be a new donor, but “%(similar)s” is on file: "
                        "write that name if it is the same donor.",
                        name=name,
                        similar=similar,
                    )
                )


def _check_room(rows: list[Row]) -> None:
    """Mark the first row that would take the book past what its exports can hold."""
    held = book.book_held_minor()
    for row in rows:
        if row.base is None or row.errors:
            continue
        held += row.base.minor
        if held > MAX_BOOK_MINOR:
            row.errors["amount"] = _(
                "With this row the book would hold more than %(max)s %(base)s in all, more "
                "than its exports can show: check the amount and the rate.",
                max=format_plain(Money(MAX_BOOK_MINOR, row.base.currency)),
                base=row.base.currency,
            )
            return


# --- storing the upload between preview and confirm ----------------------------------------


def imports_dir() -> str:
    path = current_app.config["IMPORTS_DIR"]
    os.makedirs(path, exist_ok=True)
    return path


def _paths(token: str) -> tuple[str, str]:
    if not _TOKEN.match(token or ""):
        raise ImportNotFound(
            _("This import was not found: upload the file again. Nothing was imported.")
        )
    base = os.path.join(imports_dir(), token)
    return base + ".csv", base + ".json"


def store_upload(content: bytes, filename: str, *, by: User) -> str:
    """Keep *content* for the confirm step; return its token."""
    _remove_old()
    token = secrets.token_hex(16)
    data_path, meta_path = _paths(token)
    with open(data_path, "xb") as out:
        out.write(content)
    with open(meta_path, "x", encoding="utf-8") as out:
        json.dump(
            {
                "sha256": hashlib.sha256(content).hexdigest(),
                "user_id": by.id,
                "filename": filename[:255],
                "stored_at": time.time(),
            },
            out,
        )
    return token


def load_upload(token: str, *, by: User, sha256: str | None = None) -> tuple[bytes, dict]:
    """The stored bytes and their record; raise :class:`ImportNotFound` unless intact."""
    data_path, meta_path = _paths(token)
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        with open(data_path, "rb") as f:
            content = f.read()
    except (OSError, ValueError):
        raise ImportNotFound(
            _(
                "This import was not found or has expired: upload the file "
                "again. Nothing was imported."
            )
        ) from None
    if meta.get("user_id") != by.id:
        raise ImportNotFound(
            _(
                "This import was not found or has expired: upload the file "
                "again. Nothing was imported."
            )
        )
    actual = hashlib.sha256(content).hexdigest()
    if actual != meta.get("sha256") or (sha256 is not None and sha256 != actual):
        raise ImportNotFound(
            _(
                "The stored file does not match the one previewed: upload it "
                "again. Nothing was imported."
            )
        )
    return content, meta


def _remove_old() -> None:
    folder = imports_dir()
    limit = time.time() - KEEP_SECONDS
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        try:
            if os.path.getmtime(path) < limit:
                os.remove(path)
        except OSError:
            pass


# --- the import ----------------------------------------------------------------------------


def idempotency_key(token: str, line: int) -> str:
    return f"import-{token}-{line}"


def already_imported(token: str, content: bytes) -> bool:
    """True when this upload's first row was recorded already (each row carries its key)."""
    _encoding, _delimiter, rows = read_rows(content)
    return (
        book.find_by_idempotency_key(Contribution, idempotency_key(token, rows[0][0])) is not None
    )


def run_import(
    content: bytes,
    *,
    token: str,
    create_missing: bool,
    acknowledged: set[int],
    by: User,
    filename: str | None = None,
) -> ImportResult:
    """Check everything again, then record every row, or raise and record nothing.

    The caller commits on success; it rolls back on any exception, and when the result says
    the file was already imported (then the session may hold a failed flush).
    """
    if already_imported(token, content):
        return ImportResult([], [], already_imported=True)
    checked = preview(content, create_missing=create_missing)
    if checked.error_rows:
        raise NotReady(
            _("Correct the rows marked below, then upload the file again. Nothing was imported."),
            checked,
        )
    unacknowledged = [r.line for r in checked.warning_rows if r.line not in acknowledged]
    if unacknowledged:
        raise NotReady(
            _(
                "Tick each possible duplicate to confirm it is a separate gift "
                "(rows %(rows)s). Nothing was imported.",
                rows=", ".join(map(str, unacknowledged)),
            ),
            checked,
        )
    donors = _donor_index()
    created: list[Donor] = []
    display = settings.import_donor_display()
    for row in checked.rows:
        for i, name in enumerate(row.donor_names):
            if donors.get(_normal(name)):
                continue
            donor = book.create_donor(
                parse_donor(_new_donor(row, i, name, public_display=display)), by=by
            )
            donors[_normal(name)] = [donor.id]
            created.append(donor)
    recorded = []
    try:
        for row in checked.rows:
            ids = [str(donors[_normal(n)][0]) for n in row.donor_names]
            data = parse_contribution(row.fields, donor_ids=ids, shares=[])
            recorded.append(
                book.record_contribution(
                    data, by=by, idempotency_key=idempotency_key(token, row.line)
                )
            )
    except IntegrityError:
        # Another request imported the same token first (PostgreSQL's unique key).
        return ImportResult([], [], already_imported=True)
    except Invalid:
        # The book filled up between the check and the import (another writer).
        db.session.rollback()
        raise NotReady(
            _("Correct the rows marked below, then upload the file again. Nothing was imported."),
            preview(content, create_missing=create_missing),
        ) from None
    audit.log(
        by,
        "import.completed",
        "import",
        None,
        after={
            "sha256": checked.sha256,
            "rows": len(recorded),
            "filename": filename,
            "encoding": checked.encoding,
            "created_donors": [d.id for d in created],
            "references": [recorded[0].reference, recorded[-1].reference] if recorded else [],
        },
    )
    return ImportResult(recorded, created)


def template_csv() -> bytes:
    """The template offered for download: the header and the seed's two gifts (UTF-8 BOM,
    so spreadsheet programs show the Khmer)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow(
        [
            "CNRP Minnesota & IKA",
            "គ.ស.ជ. រដ្ឋមីនីសូតា & ",
            "400.00",
            "USD",
            "1",
            "2014-06-15",
            "Mrs. Janet Seng",
            MINNESOTA_EN[0],
            MINNESOTA_KM[0],
            MINNESOTA_EN[1],
            MINNESOTA_KM[1],
            "cash",
            "promotion",
            "Example row: replace it with your own.",
            "US",
        ]
    )
    writer.writerow(
        [
            "Khmer Youth Movement of New Market, Ontario",
            "ចលនាយុវជនខ្មែរ ញូម៉ាឃីត រដ្ឋអុនតារីយ៉ូ",
            "700.00",
            "USD",
            "1",
            "2014-08-10",
            "Mrs. Janet Seng",
            CANADA_EN[0],
            CANADA_KM[0],
            CANADA_EN[1],
            CANADA_KM[1],
            "cash",
            "general",
            "Example row: replace it with your own.",
            "CA",
        ]
    )
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
