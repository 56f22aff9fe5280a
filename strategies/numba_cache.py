"""Where numba caches this package's compiled kernels: one folder per version of the sources,
wherever the package is installed.

Numba's own locator for ``NUMBA_CACHE_DIR`` files each source file's kernels under a hash of
the file's absolute folder, so a copy of the project at another path (a new release folder,
a test's throw-away project, a Dagster step process started in the project's folder)
compiles every kernel again. The cache folder :mod:`strategies` chooses is already named
after a hash of all of this package's sources, so the absolute path adds nothing: this
locator drops it for the package's own files (numba still checks each file's content hash
before it loads a kernel). Files of other packages (vectorbt's kernels) keep numba's
per-folder layout. Numba imports this module by name (``NUMBA_CACHE_LOCATOR_CLASSES``, set
by :mod:`strategies`) when it first caches a kernel.
"""

from __future__ import annotations

import os

from numba.core.caching import UserProvidedCacheLocator

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class PackageCacheLocator(UserProvidedCacheLocator):
    """``NUMBA_CACHE_DIR`` locator whose folder for this package's files does not depend on
    where the package lives (the cache folder is per source version already)."""

    @classmethod
    def get_suitable_cache_subpath(cls, py_file: str) -> str:
        folder = os.path.dirname(os.path.abspath(py_file))
        if folder == PACKAGE_DIR:
            return "strategies"
        subpath: str = super().get_suitable_cache_subpath(py_file)  # type: ignore[no-untyped-call]
        return subpath

