"""Demo data built into the app, taken from the text CEROC published on its web page (kept
in shared/seed/ceroc-website.txt); nothing is fetched from the network."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import MetaData, inspect, select

from ceroc_donations.accounts import service as users
from ceroc_donations.accounts.models import User
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import parse_contribution, parse_donor, parse_expense
from ceroc_donations.extensions import db

#: (email, name, role, password) — printed by ``flask demo``; for trying the app only.
DEMO_USERS = (
    ("admin@ceroc.example", "CEROC Admin", "admin", "admin-demo-2014"),
    ("janet@ceroc.example", "Janet Seng", "treasurer", "treasurer-demo-2014"),
    ("sophoan@ceroc.example", "Seng Sophoan", "board", "board-demo-2014"),
    ("member@ceroc.example", "CEROC Member", "member", "member-demo-2014"),
)

SEED_NOTE = (
    "From CEROC's published page. The page gives no date; the day is an approximation for the demo."
)

#: The seed's two gifts: (occasion, purpose) in English and in Khmer. Also the rows of the
#: CSV import's template.
MINNESOTA_EN = (
    "Trip to Minnesota accompanying MP Mu Sochua",
    "Promotion to collect more signatures and petitions, and to make the public more aware "
    "of the right to vote in Cambodia's elections by Khmers overseas",
)
MINNESOTA_KM = (
    "ដំណើរទៅរដ្ឋមីនីសូតា អមដំណើរលោកស្រីតំណាងរាស្ត្រ មូរ សុខហួរ",
    "ការផ្សព្វផ្សាយ ដើម្បីប្រមូលហត្ថលេខា និងញត្តិបន្ថែមទៀត "
    "និងដើម្បីឱ្យសាធារណជនយល់ដឹងកាន់តែច្បាស់ អំពីសិទ្ធិបោះឆ្នោតរបស់ខ្មែរនៅក្រៅប្រទេស "
    "ក្នុងការបោះឆ្នោតនៅកម្ពុជា",
)
CANADA_EN = (
    "Trip to Canada accompanying MP Mu Sochua",
    "The right to vote of all overseas Cambodians",
)
CANADA_KM = (
    "ដំណើរទៅប្រទេសកាណាដា អមដំណើរលោកស្រីតំណាងរាស្ត្រ មូរ សុខហួរ",
    "សិទ្ធិបោះឆ្នោតរបស់ពលរដ្ឋខ្មែរទាំងអស់នៅក្រៅប្រទេស",
)


def load_demo() -> list[tuple[str, str, str]]:
    """Load the seed's people, groups and gifts once; return the demo logins."""
    if db.session.execute(select(User.id).limit(1)).scalar() is not None:
        return [(email, role, pw) for email, _n, role, pw in DEMO_USERS]
    admin = None
    for email, name, role, password in DEMO_USERS:
        user = users.create_user(email, name, role, password, by=admin)
        admin = admin or user
    treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
    general = book.create_fund(
        "general",
        "General",
        name_km="ទូទៅ",
        description="CEROC's general running costs.",
        description_km="ការចំណាយប្រចាំថ្ងៃទូទៅរបស់ CEROC។",
        by=admin,
    )
    promo = book.create_fund(
        "promotion",
        "Promotion & petition collection",
        name_km="ការផ្សព្វផ្សាយ និងការប្រមូលញត្តិ",
        description="Promotion to collect more signatures and petitions, and to make the "
        "public more aware of the right to vote of Khmers overseas.",
        description_km="ការផ្សព្វផ្សាយ ដើម្បីប្រមូលហត្ថលេខា និងញត្តិបន្ថែមទៀត "
        "និងដើម្បីឱ្យសាធារណជនយល់ដឹងកាន់តែច្បាស់ អំពីសិទ្ធិបោះឆ្នោតរបស់ខ្មែរនៅក្រៅប្រទេស។",
        by=admin,
    )
    donor = lambda **kw: book.create_donor(parse_donor(kw), by=treasurer)  # noqa: E731
    cnrp = donor(
        name_en="CNRP Minnesota",
        name_km="គ.ស.ជ. រដ្ឋមីនីសូតា",
        kind="group",
        city="Minneapolis",
        region="Minnesota",
        country="US",
    )
    ika = donor(
        name_en="IKA",
        kind="group",
        city="Minneapolis",
        region="Minnesota",
        country="US",
        note="Gave together with CNRP Minnesota.",
    )
    youth = donor(
        name_en="Khmer Youth Movement of New Market, Ontario",
        name_km="ចលនាយុវជនខ្មែរ ញូម៉ាឃីត រដ្ឋអុនតារីយ៉ូ",
        kind="group",
        city="Newmarket",
        region="Ontario",
        country="CA",
    )
    book.record_contribution(
        parse_contribution(
            {
                "amount": "400",
                "currency": "USD",
                "received_on": "2014-06-15",
                "received_by": "Mrs. Janet Seng",
                "fund_id": str(promo.id),
                "occasion": MINNESOTA_EN[0],
                "occasion_km": MINNESOTA_KM[0],
                "purpose": MINNESOTA_EN[1],
                "purpose_km": MINNESOTA_KM[1],
                "method": "cash",
                "note": SEED_NOTE,
            },
            donor_ids=[str(cnrp.id), str(ika.id)],
        ),
        by=treasurer,
    )
    book.record_contribution(
        parse_contribution(
            {
                "amount": "700",
                "currency": "USD",
                "received_on": "2014-08-10",
                "received_by": "Mrs. Janet Seng",
                "fund_id": str(general.id),
                "occasion": CANADA_EN[0],
                "occasion_km": CANADA_KM[0],
                "purpose": CANADA_EN[1],
                "purpose_km": CANADA_KM[1],
                "method": "cash",
                "note": 'The seed says "$700" without naming the dollar; '
                "recorded as written, in US "
                "dollars. Check whether it was Canadian dollars. " + SEED_NOTE,
            },
            donor_ids=[str(youth.id)],
        ),
        by=treasurer,
    )
    for paid_on, payee, amount, cat, en, km in (
        (
            "2014-06-20",
            "Print shop (example)",
            "120.00",
            "printing",
            "Example: petition forms printed for the signature drive",
            "ឧទាហរណ៍៖ បោះពុម្ពសន្លឹកញត្តិ សម្រាប់ការប្រមូលហត្ថលេខា",
        ),
        (
            "2014-07-02",
            "Community radio (example)",
            "85.50",
            "promotion",
            "Example: radio announcement on the right to vote of Khmers overseas",
            "ឧទាហរណ៍៖ ការផ្សាយតាមវិទ្យុ អំពីសិទ្ធិបោះឆ្នោតរបស់ខ្មែរនៅក្រៅប្រទេស",
        ),
    ):
        book.record_expense(
            parse_expense(
                {
                    "paid_on": paid_on,
                    "payee": payee,
                    "amount": amount,
                    "currency": "USD",
                    "category": cat,
                    "fund_id": str(promo.id),
                    "description_en": en,
                    "description_km": km,
                }
            ),
            by=treasurer,
            is_example=True,
        )
    db.session.flush()
    return [(email, role, pw) for email, _n, role, pw in DEMO_USERS]


def only_demo_accounts() -> bool:
    """True when the database has no account but the demo's (or no tables yet): resetting
    it then loses nobody's real work."""
    if not inspect(db.engine).has_table(User.__tablename__):
        return True
    emails = set(db.session.execute(select(User.email)).scalars())
    return emails <= {email for email, _n, _r, _p in DEMO_USERS}


def wipe_demo(config) -> list[str]:
    """Drop every table and remove the files the app wrote (receipts, the letter archive,
    import uploads, kept uploads); return the folders removed. The caller migrates again."""
    db.session.remove()
    tables = MetaData()
    tables.reflect(bind=db.engine)
    tables.drop_all(bind=db.engine)
    receipts = Path(config["RECEIPTS_DIR"])
    removed = []
    for folder in (
        receipts,
        Path(config["ARCHIVE_DIR"]),
        Path(config["IMPORTS_DIR"]),
        receipts.parent / "pending-uploads",
    ):
        if folder.is_dir():
            shutil.rmtree(folder)
            removed.append(str(folder))
    return removed
