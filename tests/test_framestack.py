"""Documents are laid out from a frame with a frame-stack chunk of its own."""

from __future__ import annotations

import threading

import pytest

from ceroc_donations.rendering import framestack
from ceroc_donations.rendering.pdf import LetterRenderer


def test_the_starting_frame_is_large():
    code = framestack._deep.__code__
    assert code.co_nlocals >= framestack.FRAME_WORDS  # 64 KiB of slots: a chunk of its own


def test_calls_pass_through_once_a_thread(monkeypatch):
    deep_calls = []
    real = framestack._deep
    monkeypatch.setattr(framestack, "_deep", lambda *a: (deep_calls.append(1), real(*a))[1])

    @framestack.on_deep_stack
    def inner(x, *, y):
        return (x, y)

    @framestack.on_deep_stack
    def outer(x):
        return inner(x, y=2), inner(x + 1, y=3)

    assert outer(1) == ((1, 2), (2, 3))
    assert len(deep_calls) == 1  # the inner calls ran inside the outer one's frame
    assert inner(5, y=6) == (5, 6)
    assert len(deep_calls) == 2

    seen = []
    thread = threading.Thread(target=lambda: seen.append(inner(7, y=8)))
    thread.start()
    thread.join()
    assert seen == [(7, 8)] and len(deep_calls) == 3


def test_an_error_comes_through_and_the_next_call_is_deep_again(monkeypatch):
    deep_calls = []
    real = framestack._deep
    monkeypatch.setattr(framestack, "_deep", lambda *a: (deep_calls.append(1), real(*a))[1])

    @framestack.on_deep_stack
    def failing():
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        failing()
    with pytest.raises(ValueError, match="no"):
        failing()
    assert len(deep_calls) == 2


@pytest.mark.parametrize("name", ["render_document", "to_pdf", "write", "render_letter",
                                  "archived_letter", "letter_document"])  # fmt: skip
def test_renderer_entry_points_start_deep(name):
    assert getattr(getattr(LetterRenderer, name), "__wrapped__", None) is not None
