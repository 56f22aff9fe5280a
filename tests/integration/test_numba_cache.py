"""Numba's on-disk cache of the strategies' kernels serves every copy of the package with the
same sources (a project copied to another folder loads the kernels, it does not compile them
again) and never a copy whose sources differ."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROBE = """
import json
from strategies.rules import slippage_points
assert slippage_points(2.0, 0.05) == 0.1
print(json.dumps({"hits": sum(slippage_points.stats.cache_hits.values()),
                  "misses": sum(slippage_points.stats.cache_misses.values()),
                  "file": __import__("strategies").__file__}))
"""


def _copy(repo_root: Path, dest: Path) -> Path:
    shutil.copytree(repo_root / "strategies", dest / "strategies",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _probe(copy: Path, cache: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NUMBA_") and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(copy), STRATOPS_NUMBA_CACHE=str(cache))
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=copy, env=env, text=True,
                          capture_output=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(proc.stdout)
    assert result["file"] == str(copy / "strategies" / "__init__.py")
    return result


def test_a_copy_of_the_package_elsewhere_loads_the_kernels_compiled_by_another(
        repo_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _probe(_copy(repo_root, tmp_path / "a"), cache)
    second = _probe(_copy(repo_root, tmp_path / "b"), cache)
    assert (first["hits"], first["misses"]) == (0, 1)  # compiled once
    assert (second["hits"], second["misses"]) == (1, 0)  # loaded at another path


def test_a_copy_with_edited_sources_compiles_its_own_kernels(
        repo_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _probe(_copy(repo_root, tmp_path / "a"), cache)
    edited = _copy(repo_root, tmp_path / "b")
    sim = edited / "strategies" / "sim_kernel.py"
    sim.write_text(sim.read_text() + "\n# edited\n")  # another module than the kernel's
    second = _probe(edited, cache)
    assert (second["hits"], second["misses"]) == (0, 1)
