"""Time and peak memory of the exports: ``python bench/exports.py``.

Each case runs in a fresh process, because the peak (VmHWM) only ever grows: a CSV of
1,000,000 rows peaking at the same memory as one of 100,000 rows shows the stream is flat.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = [("csv", 100_000), ("csv", 1_000_000), ("xlsx", 100_000)]
HEADER = ["Date", "Reference", "Donor", "Category", "Amount", "Currency"]


def rows(count: int):
    """Ledger-like rows, generated lazily: mixed Khmer and Latin text, Decimal amounts."""
    start = date(2020, 1, 1)
    for i in range(count):
        yield (
            start + timedelta(days=i % 2000),
            f"C-2026-{i:07d}",
            f"លោក សុខ ចាន់ធី {i}" if i % 2 else f"Sophea Chan, Lowell MA {i}",
            "=education" if i % 97 == 0 else "Schools",
            Decimal(i * 37 % 1_000_000).scaleb(-2),
            "USD",
        )


def peak_rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_case(kind: str, count: int) -> None:
    sys.path.insert(0, ROOT)
    from ceroc_donations.ledger.exports import iter_csv, write_xlsx

    baseline = peak_rss_kib()
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        if kind == "csv":
            for chunk in iter_csv(HEADER, rows(count)):
                out.write(chunk.encode("utf-8"))
        else:
            write_xlsx(HEADER, rows(count), out, sheet_title="Ledger")
        size = out.tell()
    elapsed = time.perf_counter() - started
    peak = peak_rss_kib()
    print(
        f"{kind:4} {count:>9,} rows  {elapsed:6.2f} s  {size / 1e6:7.1f} MB out  "
        f"peak RSS {peak / 1024:6.1f} MiB (at start {baseline / 1024:5.1f} MiB)"
    )


def main() -> None:
    if len(sys.argv) == 3:
        run_case(sys.argv[1], int(sys.argv[2]))
        return
    print(f"Python {sys.version.split()[0]}, one process per case")
    for kind, count in CASES:
        subprocess.run([sys.executable, __file__, kind, str(count)], check=True)


if __name__ == "__main__":
    main()
