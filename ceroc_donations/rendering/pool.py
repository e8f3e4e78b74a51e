"""Worker processes that render archived letters side by side, for letter batches.

The process that owns a :class:`RenderPool` never loads WeasyPrint itself (about 28 MB):
its workers fork from a server that has :mod:`ceroc_donations.rendering.pdf` loaded,
which also shares those pages between them. Nor do they import that process's main
module, as :mod:`multiprocessing` otherwise does (gunicorn's, Flask's or Huey's script,
which would bring the whole web app into every worker: 18 MiB each).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import context as mp_context
from multiprocessing import popen_forkserver, spawn
from typing import TYPE_CHECKING

from ceroc_donations.rendering.letter import Kind, LetterData, LetterTexts

if TYPE_CHECKING:
    from ceroc_donations.rendering.pdf import LetterRenderer

_renderer: LetterRenderer | None = None


def _watch_parent(parent: int) -> None:
    """End this worker once the process that made its pool is gone (e.g. SIGKILLed): a
    pool's workers would otherwise wait for work forever."""
    first = os.getppid()
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        if os.getppid() != first:  # our forkserver died with it: we were handed on
            os._exit(0)


_starting = threading.local()
_preparation_data = spawn.get_preparation_data


def _worker_preparation_data(name: str) -> dict:
    """``multiprocessing.spawn.get_preparation_data``, without the parent's main module
    for a render worker being started (its work is all in this package)."""
    data = _preparation_data(name)
    if getattr(_starting, "render_worker", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


spawn.get_preparation_data = _worker_preparation_data


class _WorkerPopen(popen_forkserver.Popen):
    def _launch(self, process_obj):
        _starting.render_worker = True
        try:
            super()._launch(process_obj)
        finally:
            _starting.render_worker = False


class _WorkerProcess(mp_context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj):
        return _WorkerPopen(process_obj)


class _WorkerContext(mp_context.ForkServerContext):
    """The forkserver start method, for processes that skip the parent's main module."""

    Process = _WorkerProcess


def worker_context() -> mp_context.BaseContext:
    """A multiprocessing context whose processes fork from the forkserver and skip the
    parent's main module."""
    return _WorkerContext()


def _init_worker(parent: int, renderer_kwargs: dict) -> None:
    global _renderer
    from ceroc_donations.rendering.pdf import LetterRenderer

    threading.Thread(target=_watch_parent, args=(parent,), name="ceroc-parent", daemon=True).start()
    # Everything the first letter loads stays for the worker's life: frozen then.
    _renderer = LetterRenderer(**{"freeze_after_first": True, **renderer_kwargs})


def _render(data: LetterData, texts: LetterTexts, kind: Kind) -> bytes:
    assert _renderer is not None, "worker not initialised"
    return _renderer.archived_letter(data, texts, kind)


class RenderPool:
    """Processes rendering archived letters (:meth:`LetterRenderer.archived_letter`), kept
    warm for the life of the process that made the pool.

    Each worker builds its renderer once and freezes its heap after its first letter; it
    ends by itself when this process dies. ``workers=0`` renders in the caller's thread,
    when the result is asked for.
    """

    def __init__(self, workers: int, **renderer_kwargs):
        self.workers = workers
        self._renderer_kwargs = renderer_kwargs
        self._pool: ProcessPoolExecutor | None = None
        self._local: LetterRenderer | None = None

    def submit(self, data: LetterData, texts: LetterTexts, kind: Kind = "thank_you") -> Future:
        """A future of the letter's archived PDF bytes."""
        if self.workers <= 0:
            return _Deferred(lambda: self._local_renderer().archived_letter(data, texts, kind))
        if self._pool is None:
            context = worker_context()
            context.set_forkserver_preload(["ceroc_donations.rendering.pdf"])
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context,
                initializer=_init_worker, initargs=(os.getpid(), self._renderer_kwargs),
            )  # fmt: skip
        return self._pool.submit(_render, data, texts, kind)

    def _local_renderer(self) -> LetterRenderer:
        if self._local is None:
            from ceroc_donations.rendering.pdf import LetterRenderer

            self._local = LetterRenderer(**self._renderer_kwargs)
        return self._local

    def pids(self) -> list[int]:
        """The worker processes' ids (for measuring them)."""
        return list(self._pool._processes) if self._pool else []  # noqa: SLF001

    def shutdown(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True, cancel_futures=True)


class _Deferred(Future):
    """A future computed in the caller's thread when its result is first asked for."""

    def __init__(self, compute: Callable[[], bytes]):
        super().__init__()
        self._compute = compute

    def result(self, timeout=None):  # noqa: ARG002 - Future's signature
        if not self.done():
            try:
                self.set_result(self._compute())
            except BaseException as exc:
                self.set_exception(exc)
        return super().result()
