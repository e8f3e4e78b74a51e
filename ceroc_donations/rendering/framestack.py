"""Lay out and write documents on a Python frame stack with room to spare.

CPython 3.11 keeps its frames in 16 KiB chunks. When a call needs a frame past the end of
the current chunk it maps a new one (``mmap``), and it unmaps it again (``munmap``) as
soon as that call returns. WeasyPrint's layout recurses through the box tree and asks
styles for values (``ComputedStyle.__missing__``) at every depth, so wherever the end of a
chunk happens to fall, thousands of calls cross it: measured on a letter, 200 to 940 page
faults and up to 7 ms of system time, depending only on how deep the caller started.

:func:`on_deep_stack` runs a document's work from a frame so large (8,192 local slots,
64 KiB) that CPython gives it a chunk of its own of 128 KiB, with some 60 KiB free after
it: the whole layout fits, and the chunk is mapped once per document. A letter then costs
~23 page faults and no measurable system time, whatever the depth of its caller.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

#: Local slots of the frame the work starts from (8 bytes each).
FRAME_WORDS = 8192


def _make_deep() -> Callable:
    names = " = ".join(f"_{i}" for i in range(FRAME_WORDS))
    source = (
        "def deep(call, args, kwargs):\n"
        "    if call is None:  # never: the names only make the frame large\n"
        f"        {names} = None\n"
        "    return call(*args, **kwargs)\n"
    )
    namespace: dict = {}
    exec(compile(source, "<ceroc framestack>", "exec"), namespace)  # noqa: S102 - fixed text
    return namespace["deep"]


_deep = _make_deep()
_local = threading.local()


def on_deep_stack(function: Callable[P, R]) -> Callable[P, R]:
    """Run *function* from a frame with a frame-stack chunk of its own (once per thread:
    calls inside it run as they are)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if getattr(_local, "inside", False):
            return function(*args, **kwargs)
        _local.inside = True
        try:
            return _deep(function, args, kwargs)
        finally:
            _local.inside = False

    return wrapper
