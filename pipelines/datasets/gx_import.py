"""Import Great Expectations without paying for what a pandas validation never touches.

``import great_expectations`` (GX Core 1.x) executes every built-in expectation module, and
one of those, the KL-divergence expectation, imports ``scipy.stats`` and ``altair`` at module
level (~1.3 s together on this kind of machine, a third of GX's import), and the rules of
:mod:`pipelines.datasets.validation` use neither. (``requests``, imported by the checkpoint
actions, cannot be deferred: GX imports ``requests.adapters`` from it at once.)

Those modules are imported through :class:`importlib.util.LazyLoader` while GX is being
imported: each is registered as usual but only executed at its first attribute access, so
anything that does use them later (in this process) gets the real module, loaded then.
The cyclic garbage collector is paused during the import: GX builds thousands of classes, and
the repeated full collections this triggers cost a further ~15% of the import.
"""

from __future__ import annotations

import gc
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

#: Imported by GX at import time, unused by our pandas suites (see the module docstring).
DEFERRED_MODULES: tuple[str, ...] = ("scipy.stats", "altair")


class _DeferredFinder(importlib.abc.MetaPathFinder):
    """Finds ``names`` with the other finders and wraps their loader in a LazyLoader."""

    def __init__(self, names: frozenset[str]) -> None:
        self._names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return None  # namespace package or legacy loader: import it normally
            spec.loader = importlib.util.LazyLoader(spec.loader)
            return spec
        return None


@contextmanager
def deferred_imports(names: Sequence[str]) -> Iterator[None]:
    """Inside the block, a first import of any of ``names`` yields a lazily executed module."""
    finder = _DeferredFinder(frozenset(names))
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def import_gx() -> ModuleType:
    """The ``great_expectations`` module, imported with :data:`DEFERRED_MODULES` deferred."""
    loaded = sys.modules.get("great_expectations")
    if loaded is not None:
        return loaded
    with gc_paused(), deferred_imports(DEFERRED_MODULES):
        import great_expectations

    return great_expectations


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block (restored to its prior state)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
