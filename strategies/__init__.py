"""Pure, I/O-free strategy code shared by research and live: indicators, strategies, the bar
simulator, costs and the grid engine.

Numba caches compiled kernels on disk, but it checks only the source file of the function
it compiles, not the files of the kernels it calls: after an edit to ``sim_kernel.py`` the
grid engine would silently keep the old simulator. So the cache lives in a folder named
after a hash of this package's sources; any edit to any module starts a fresh cache.
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


def _configure_numba_cache() -> None:
    """Point numba at the cache folder without importing numba (0.5-1.5 s) on every
    ``import strategies``: numba reads ``NUMBA_CACHE_DIR`` when it is first imported."""
    import sys

    folder = str(_numba_cache_dir())
    os.environ["NUMBA_CACHE_DIR"] = folder
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.config.CACHE_DIR = folder


_configure_numba_cache()
