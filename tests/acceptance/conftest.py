"""A project as a newcomer has it after ``make demo``, and a shell to follow the README in."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import cli_zygote
from tests.acceptance.readme import Shell
from tests.integration.conftest import built_project, demo_project

__all__ = ["built_project", "demo_project", "fresh_demo", "shell_in"]

BIN = Path(sys.executable).parent
SHIPPED = ("gates.yaml", "policy.yaml", "risk.yaml", "roles.yaml")


@pytest.fixture()
def fresh_demo(demo_project: Path, tmp_path: Path) -> Path:
    """A private copy of the project after ``make demo``, with a ``.venv`` whose ``stratops``
    runs in the zygote (everything else in it is the real environment's)."""
    root = tmp_path / "clone"
    shutil.copytree(demo_project, root, symlinks=True)
    _venv_with_shim(root / ".venv", BIN.parent, cli_zygote.shim())
    return root


def _venv_with_shim(venv: Path, real: Path, shim: Path) -> None:
    """``venv`` as a view of the ``real`` one (its entries linked) but for ``bin/stratops``."""
    (venv / "bin").mkdir(parents=True)
    for entry in real.iterdir():
        if entry.name != "bin":
            (venv / entry.name).symlink_to(entry)
    for entry in (real / "bin").iterdir():
        if entry.name == "stratops":
            (venv / "bin" / "stratops").symlink_to(shim)
        else:
            (venv / "bin" / entry.name).symlink_to(entry)


@pytest.fixture()
def shell_in(tmp_path: Path) -> Callable[[Path], Shell]:
    """A bash session in a project copy: this worktree's code, no STRATOPS_* of the caller."""
    def make(root: Path) -> Shell:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("STRATOPS_") and k not in ("DAGSTER_HOME", "VIRTUAL_ENV")}
        env["PYTHONPATH"] = str(root)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        return Shell(root, tmp_path / "shell", env)
    return make


def shipped_bytes(root: Path) -> dict[str, bytes]:
    """The reviewed files a walk-through must never edit in place."""
    return {name: (root / name).read_bytes() for name in SHIPPED}

