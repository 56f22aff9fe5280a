"""One build per test run, shared by the pytest-xdist workers.

A session fixture runs once per *worker* under xdist. The expensive, read-only builds (the
project copy with its datasets, the project after ``make demo``) are made once for the whole
run instead: the first worker to ask builds into a folder beside the workers' own temporary
folders, under a file lock, and marks it done; the others wait for the lock and reuse it.
Without xdist (``worker_id == "master"``) the build goes to the session's own folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

DONE = ".build-complete"


def built_once(tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str,
               build: Callable[[Path], None]) -> Path:
    """The folder ``name`` after ``build(folder)``, built once per test run. A build that
    failed half way is removed and redone by the next worker that asks."""
    if worker_id == "master":
        root = tmp_path_factory.mktemp(name)
        build(root)
        return root
    shared = tmp_path_factory.getbasetemp().parent
    root = shared / name
    with FileLock(str(shared / f"{name}.lock")):
        if not (root / DONE).exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            build(root)
            (root / DONE).touch()
    return root
