"""Time of a failed log-in: unknown email vs. wrong password: ``python bench/login_timing.py``.

Posts ``/login`` through the Flask test client, alternating an email that has no account
with a real account's email and a wrong password, each from its own client address so the
throttle never answers first. Prints the median and spread of each and their difference.
Target: the medians differ by less than the spread (nothing tells whether an email exists).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.environ.get("CEROC_BENCH_ROOT") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))
)
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    from ceroc_donations import create_app
    from ceroc_donations.accounts.models import User
    from ceroc_donations.extensions import db
    from ceroc_donations.security import hash_password

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench",
                "AUDIT_KEY": "bench-audit-key",
                "WTF_CSRF_ENABLED": False,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite",
                "LOGIN_MAX_FAILURES": 10**6,
                "LOGIN_ADDRESS_MAX_FAILURES": 10**6,
            }
        )
        with app.app_context():
            db.create_all()
            db.session.add(
                User(
                    email="known@bench.example",
                    name="Known",
                    role="member",
                    password_hash=hash_password("the-right-password"),
                )
            )
            db.session.commit()
        client = app.test_client()
        times: dict[str, list[float]] = {"unknown email": [], "wrong password": []}
        emails = {"unknown email": "nobody@bench.example", "wrong password": "known@bench.example"}
        for n in range(args.rounds + 2):
            for kind, email in emails.items():
                start = time.perf_counter()
                response = client.post(
                    "/login",
                    data={"email": email, "password": "wrong-password"},
                    environ_base={"REMOTE_ADDR": f"10.{n // 250}.{n % 250}.1"},
                )
                elapsed = time.perf_counter() - start
                assert response.status_code == 401, response.status_code
                if n >= 2:  # the first rounds warm up
                    times[kind].append(elapsed * 1000)
        for kind, values in times.items():
            print(
                f"{kind:15} median {statistics.median(values):7.1f} ms   "
                f"stdev {statistics.stdev(values):5.1f} ms   n={len(values)}"
            )
        diff = statistics.median(times["unknown email"]) - statistics.median(
            times["wrong password"]
        )
        print(f"difference of medians: {diff:+.1f} ms")
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
