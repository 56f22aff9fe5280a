"""A head start for Great Expectations: a forked worker imports GX while the parent reads.

``stratops data import`` spends most of its time importing GX (~1.5 s even trimmed, see
:mod:`pipelines.datasets.gx_import`), and the parent needs GX only after reading,
normalising and deriving the validation frames (~1 s more). The worker, forked when the
command starts, imports GX on the other core meanwhile; then it runs the same suite
(:func:`pipelines.datasets.validation.run_gx_suite`) on the frames the parent sends and
returns the outcomes. The parent still decides what passes and what is stored.

It is only a head start: where it cannot be forked safely (not Linux, threads already
running, numpy already loaded with its thread pools) or fails in any way, the suite runs in
the parent's process as before.
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

#: A suite runner: ``(rows, sessions, rules, *, name, kind, config) -> list[RuleOutcome]``.
SuiteRunner = Any


def _serve(conn: Connection) -> None:
    """The worker: import GX, then validate the one request the parent sends (if any).
    It ends after that one answer (``os._exit``, no teardown), so it runs without the cyclic
    garbage collector: its imports and its one validation are its whole life."""
    gc.disable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from pipelines.datasets.gx_import import import_gx

    import_gx()
    from pipelines.datasets.validation import run_gx_suite

    try:
        args, kwargs = conn.recv()
    except EOFError:  # the parent finished (or failed) without validating
        return
    try:
        conn.send(("ok", run_gx_suite(*args, **kwargs)))
    except Exception as exc:  # reported; the parent re-runs the suite itself
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class GxWorker:
    """The parent's handle: :meth:`run_suite` has :func:`run_gx_suite`'s signature."""

    def __init__(self, process: Any, conn: Connection) -> None:
        self._process = process
        self._conn = conn
        self._asked = False

    def run_suite(self, *args: Any, **kwargs: Any) -> Any:
        """The worker's outcomes for this suite; in process when the worker failed."""
        from pipelines.datasets.validation import run_gx_suite

        self._asked = True
        try:
            self._conn.send((args, kwargs))
            status, payload = self._conn.recv()
        except (EOFError, OSError):
            status, payload = "error", None
        if status != "ok":
            return run_gx_suite(*args, **kwargs)
        return payload

    def close(self) -> None:
        """Stop the worker: it has answered, or it is not needed (the import failed first)."""
        self._conn.close()
        if self._asked:
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


def can_fork() -> bool:
    """Whether forking now is safe: Linux, one thread, and no numpy (BLAS thread pools)."""
    return (sys.platform == "linux" and threading.active_count() == 1
            and "numpy" not in sys.modules)


@contextmanager
def gx_head_start() -> Iterator[SuiteRunner | None]:
    """Fork the worker (when :func:`can_fork`) for the block; yields its suite runner, or
    None (run the suite in process). The worker is stopped when the block ends."""
    if not can_fork():
        yield None
        return
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child,), daemon=True,
                              name="gx-head-start")
    try:
        process.start()
    except OSError:
        yield None
        return
    child.close()
    worker = GxWorker(process, parent)
    try:
        yield worker.run_suite
    finally:
        worker.close()
