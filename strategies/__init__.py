"""Pure, I/O-free strategy code shared by research and live: indicators, strategies, the bar
simulator, costs and the grid engine.

Numba caches compiled kernels on disk, but it checks only the source file of the function
it compiles, not the files of the kernels it calls: after an edit to ``sim_kernel.py`` the
grid engine would silently keep the old simulator. So the cache lives in a folder named
after a hash of this package's sources; any edit to any module starts a fresh cache. Inside
it the package's kernels are found whatever folder the package was imported from
(:mod:`strategies.numba_cache`), so a copy of the project does not compile them again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _numba_cache_dir() -> Path:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted(here.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    base = os.environ.get("STRATOPS_NUMBA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "stratops", "numba")
    return Path(base) / digest.hexdigest()[:16]


#: the cache locators numba tries, in order: this package's, then numba's own defaults
CACHE_LOCATORS = ",".join((
    "strategies.numba_cache.PackageCacheLocator", "UserProvidedCacheLocator",
    "InTreeCacheLocator", "UserWideCacheLocator", "IPythonCacheLocator", "ZipCacheLocator"))


def _configure_numba_cache() -> None:
    """Point numba at the cache folder without importing numba (0.5-1.5 s) on every
    ``import strategies``: numba reads ``NUMBA_CACHE_DIR`` when it is first imported."""
    import sys

    folder = str(_numba_cache_dir())
    os.environ["NUMBA_CACHE_DIR"] = folder
    os.environ["NUMBA_CACHE_LOCATOR_CLASSES"] = CACHE_LOCATORS
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.config.CACHE_DIR = folder
        numba.config.CACHE_LOCATOR_CLASSES = CACHE_LOCATORS


_configure_numba_cache()
