"""``python -m ceroc_donations.letters.worker BATCH_ID``: run one letter batch, then exit.

Started by the letters page in its own session, so the batch outlives the request.
The parent passes the database and archive settings in ``CEROC_LETTER_WORKER_CONFIG``.
"""

from __future__ import annotations

import json
import logging
import os
import sys


def main(argv: list[str]) -> int:
    from ceroc_donations import create_app
    from ceroc_donations.letters.jobs import run_batch

    batch_id = int(argv[1])
    config = json.loads(os.environ.get("CEROC_LETTER_WORKER_CONFIG") or "null")
    app = create_app(config)
    with app.app_context():
        try:
            run_batch(batch_id)
        except Exception:
            logging.getLogger(__name__).exception("letter batch %s failed", batch_id)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
