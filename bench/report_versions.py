"""The report's render time in two source trees, alternating processes on the same data.

``python bench/report_versions.py OLD_TREE [NEW_TREE] [--rounds 3] [--renders 2]``

A tree is a checkout or ``git archive`` of this project (e.g. the commit before the report
was made faster: ``git archive cd48113 | tar -x -C /tmp/report-baseline``); NEW_TREE is
this checkout by default. The data (a year of 1,000 gifts, as bench/report.py) is read once
with this checkout's code and handed to each tree as JSON. Each round starts a fresh process
per tree and language, in turn: it renders once to warm up (fonts, CSS), then *renders*
times, and prints their median CPU and wall time. The machine is shared: compare CPU, and
the rounds' medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Run inside each tree: rebuild its ReportData from the JSON, render, print the times.
CHILD = r"""
import json, sys, time, statistics
from datetime import date
tree, path, lang, renders = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, tree)
from dataclasses import fields
from ceroc_donations.money import Money
from ceroc_donations.rendering import charts, report

raw = json.load(open(path))
day = date.fromisoformat
def make(cls, values):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})
rows = [make(report.ContributionRow, {**c, "received_on": day(c["received_on"]),
                                      "amount": Money(*c["amount"])})
        for c in raw.pop("contributions")]
data = make(report.ReportData, {
    **raw, "period_from": day(raw["period_from"]), "period_to": day(raw["period_to"]),
    "generated_on": day(raw["generated_on"]),
    "funds": [make(report.FundRow, f) for f in raw["funds"]],
    "categories": [make(report.CategoryRow, c) for c in raw["categories"]],
    "monthly": [charts.MonthlyFlow(day(m[0]), *m[1:]) for m in raw["monthly"]],
    "contributions": rows,
})
renderer = report.report_renderer()
report.render_report_pdf(data, lang, renderer=renderer)  # warm-up
cpu, wall = [], []
for _ in range(renders):
    c0, w0 = time.process_time(), time.perf_counter()
    pdf = report.render_report_pdf(data, lang, renderer=renderer)
    cpu.append(time.process_time() - c0)
    wall.append(time.perf_counter() - w0)
print(json.dumps({"cpu": statistics.median(cpu), "wall": statistics.median(wall),
                  "size": len(pdf)}))
"""


def dump(data, path: Path) -> None:
    """*data* (a ReportData) as JSON any tree's ReportData can be rebuilt from."""
    raw = {
        "period_from": data.period_from.isoformat(),
        "period_to": data.period_to.isoformat(),
        "generated_on": (data.generated_on or date.today()).isoformat(),
        "base_currency": data.base_currency,
        "opening_minor": data.opening_minor,
        "in_minor": data.in_minor,
        "out_minor": data.out_minor,
        "audit_head": data.audit_head,
        "funds": [vars(f) for f in data.funds],
        "categories": [vars(c) for c in data.categories],
        "monthly": [
            [m.month.isoformat(), m.in_minor, m.out_minor, m.balance_minor] for m in data.monthly
        ],  # fmt: skip
        "contributions": [
            {
                **vars(c),
                "received_on": c.received_on.isoformat(),
                "amount": [c.amount.minor, c.amount.currency],
            }
            for c in data.contributions
        ],  # fmt: skip
    }
    path.write_text(json.dumps(raw), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the tree to compare against")
    parser.add_argument("new", type=Path, nargs="?", default=HERE.parent, help="(this one)")
    parser.add_argument("--count", type=int, default=1000, help="contributions (1000)")
    parser.add_argument("--rounds", type=int, default=3, help="processes per tree (3)")
    parser.add_argument("--renders", type=int, default=2, help="timed renders each (2)")
    parser.add_argument("--lang", choices=("en", "km"), action="append", help="(both)")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    from khmer_text import report_data

    data = report_data(args.count)
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.json"
        dump(data, path)
        for round_ in range(args.rounds):
            for lang in args.lang or ("en", "km"):
                for name, tree in (("old", args.old), ("new", args.new)):
                    out = subprocess.run(
                        [sys.executable, "-c", CHILD, str(tree.resolve()), str(path), lang,
                         str(args.renders)],
                        check=True, capture_output=True, text=True,
                    ).stdout  # fmt: skip
                    result = json.loads(out.strip().splitlines()[-1])
                    results.setdefault((lang, name), []).append(result)
                    print(f"round {round_ + 1} {lang} {name}: CPU {result['cpu']:.2f} s, "
                          f"wall {result['wall']:.2f} s, {result['size'] / 1024:.0f} KiB",
                          flush=True)  # fmt: skip
    med = statistics.median
    for lang in args.lang or ("en", "km"):
        old = med(r["cpu"] for r in results[(lang, "old")])
        new = med(r["cpu"] for r in results[(lang, "new")])
        old_wall = med(r["wall"] for r in results[(lang, "old")])
        new_wall = med(r["wall"] for r in results[(lang, "new")])
        print(
            f"{lang}: CPU {old:.2f} -> {new:.2f} s ({old / new:.2f}x); "
            f"wall {old_wall:.2f} -> {new_wall:.2f} s ({old_wall / new_wall:.2f}x)"
        )


if __name__ == "__main__":
    main()
