"""Render workers start from the forkserver without the parent's main module."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import flask  # a web app's main module (gunicorn's, Flask's, Huey's) brings Flask in

from ceroc_donations.rendering.letter import LETTERS_DIR, LetterTexts
from ceroc_donations.rendering.pool import RenderPool
from tests.rendering_support import sample_letter

SYS = "__import__('sys').modules"
CHECK = f"('flask' in {SYS}, getattr({SYS}.get('__mp_main__'), '__file__', None))"

if __name__ == "__main__":
    pool = RenderPool(1)
    try:
        pdf = pool.submit(sample_letter(), LetterTexts.default(LETTERS_DIR)).result()
        print(pdf[:5], pool._pool.submit(eval, CHECK).result())
    finally:
        pool.shutdown()
"""


def test_workers_skip_the_main_module(tmp_path):
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # A letter; neither Flask nor this script in the worker.
    assert done.stdout.strip() == "b'%PDF-' (False, None)"
