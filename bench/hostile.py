"""Time letters full of hostile text: ``python bench/hostile.py``.

The safety tests (tests/test_rendering_safety.py) check that such letters fetch nothing;
this prints how long each takes to render, since a fetch that waits on the network would
show as a slow render: the slowest single letter, the median, and the raw-HTML page that
holds every payload at once (its fetches are refused by the url fetcher). Nothing listens
on the URLs the payloads name.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ceroc_donations.rendering import Donor, LetterRenderer, render_html  # noqa: E402
from tests.rendering_support import sample_letter, sample_statement  # noqa: E402
from tests.test_rendering_safety import _board_texts, payloads  # noqa: E402

#: Ports nothing listens on: a fetch, if one were made, is refused at once.
TARGET, REDIRECT = "http://127.0.0.1:9/t", "http://127.0.0.1:9/r"


def main() -> None:
    renderer = LetterRenderer()
    corpus = payloads(TARGET, REDIRECT)
    timings = []
    for payload in corpus:
        data = sample_letter(donors=(Donor(payload, payload), Donor("IKA")), occasion=payload,
                             purpose=payload, reference=payload[:80])  # fmt: skip
        statement = sample_statement(donors=data.donors, reference=payload[:80])
        for kind, letter in (("thank_you", data), ("statement", statement)):
            html = render_html(letter, _board_texts(payload), kind)
            started = time.perf_counter()
            renderer.to_pdf(html, title=payload, author=payload, subject=payload)
            timings.append(time.perf_counter() - started)
    raw = "<!DOCTYPE html><html><body>" + "\n".join(corpus) + "</body></html>"
    started = time.perf_counter()
    renderer.to_pdf(raw, title="raw")
    raw_seconds = time.perf_counter() - started
    print(f"{len(timings)} hostile letters: median {statistics.median(timings):.3f} s, "
          f"slowest {max(timings):.3f} s; raw page of {len(corpus)} payloads: {raw_seconds:.3f} s "
          f"({renderer.fetcher.refused} fetches refused)")  # fmt: skip


if __name__ == "__main__":
    main()
