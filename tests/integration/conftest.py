"""A throw-away copy of the project with its datasets built by the real ``dvc repro``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import cli_zygote
from tests.shared_build import built_once

BIN = Path(sys.executable).parent
REGIME_STORE_ENV = "STRATOPS_RESEARCH__REGIME__STORE"


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME",)}
    env["STRATOPS_ROOT"] = str(root)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_in(root: Path, *args: str, check: bool = True,
           entry_script: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command (``stratops ...``, ``dvc ...``) inside the project copy. ``stratops``
    runs forked from a warm process (tests/cli_zygote.py: the same code, without paying
    for its imports again), or as the installed entry script when ``entry_script``."""
    exe = str(BIN / args[0]) if (BIN / args[0]).exists() else args[0]
    if args[0] == "stratops" and not entry_script:
        exe = str(cli_zygote.shim())
    proc = subprocess.run([exe, *args[1:]], cwd=root, env=_env(root), text=True,
                          capture_output=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _copy_sources(repo: Path, dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=repo, check=True,
        capture_output=True, text=True,
    ).stdout.splitlines()
    for rel in listed:
        src = repo / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@pytest.fixture(scope="session")
def shared_regime_store(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One ``research.regime.store`` for every project copy of the run (all xdist workers):
    the classifiers are stored under a key of their inputs (features, settings, windows,
    gates, labels), so a copy researching the same data reuses the one the first copy
    trained instead of walking hgb and logistic forward again (about 25 s each). Training
    itself is the subject of tests/unit/test_regime_training.py."""
    base = tmp_path_factory.getbasetemp()
    store = (base if worker_id == "master" else base.parent) / "regime-store"
    store.mkdir(exist_ok=True)
    return store


@pytest.fixture(scope="module", autouse=True)
def _regime_store_env(shared_regime_store: Path) -> Iterator[None]:
    """The integration modules (their module fixtures too: autouse ones come first) run
    with :func:`shared_regime_store` as ``research.regime.store``; the variable is gone
    once the module ends, so no unit or acceptance test sees it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(REGIME_STORE_ENV, str(shared_regime_store))
        yield


@pytest.fixture(scope="session")
def candidate(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One strategy's walk-forward on six weeks of NIFTY with its verdict, lineage and
    artifacts (tests/integration/test_registry.py ``Candidate``), read-only: computed once
    per worker instead of once in each of the six registry and governance modules."""
    from tests.integration.test_registry import build_candidate

    return build_candidate(tmp_path_factory)


@pytest.fixture(scope="session")
def built_project(tmp_path_factory: pytest.TempPathFactory, repo_root: Path,
                  worker_id: str) -> Path:
    """The project's files in a new git repo, with ``dvc repro`` run once per test run
    (shared by the xdist workers; read-only use)."""
    def build(root: Path) -> None:
        _copy_sources(repo_root, root)
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm",
                     "init"]):
            subprocess.run(cmd, cwd=root, check=True, capture_output=True)
        run_in(root, "dvc", "repro")

    return built_once(tmp_path_factory, worker_id, "project", build)


@pytest.fixture(scope="session")
def demo_project(built_project: Path, tmp_path_factory: pytest.TempPathFactory,
                 worker_id: str) -> Path:
    """The built project after ``make demo`` (``stratops run``: the datasets job, research
    of every strategy, the portfolio study, a shadow session), read-only: copy it to use;
    built once per test run (shared by the xdist workers and by the integration and
    acceptance folders). The run is ``stratops run --json``: its document is kept beside
    the project as ``run.json`` (tests/acceptance/test_run_json.py) and its progress and
    tables as ``run.err`` (tests/integration/test_research_pipeline.py). Built as a
    newcomer runs it, whichever module asks first: without the shared regime store, so
    the classifiers it trains are in the project's own ``data/regimes``."""
    def build(folder: Path) -> None:
        root = folder / "project"
        shutil.copytree(built_project, root, symlinks=True)
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv(REGIME_STORE_ENV, raising=False)
            proc = run_in(root, "stratops", "run", "--json", entry_script=True)
        (folder / "run.json").write_text(proc.stdout)
        (folder / "run.err").write_text(proc.stderr)

    return built_once(tmp_path_factory, worker_id, "demo", build) / "project"


def seed_regime_store(project: Path, store: Path) -> None:
    """Copy the classifiers ``project`` trained into its ``data/regimes`` to the shared
    ``store`` (keyed by every input of the training: a key present is the same
    classifier), so a later research run in a copy of it under the shared store loads
    them instead of training them again."""
    trained = project / "data" / "regimes"
    keys = [k for k in trained.glob("*/*") if (k / "signal_governance").is_dir()
            and not k.name.startswith(".")] if trained.is_dir() else []
    for key in sorted(keys):
        dest = store / key.relative_to(trained)
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = dest.parent / f".seed-{os.getpid()}-{key.name}"
        shutil.copytree(key, staging)
        try:
            staging.rename(dest)
        except OSError:  # another worker stored it first
            shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture()
def project(built_project: Path, tmp_path: Path) -> Path:
    """A private copy of the built project, free to be modified by one test."""
    dest = tmp_path / "project"
    shutil.copytree(built_project, dest, symlinks=True)
    return dest


@pytest.fixture()
def snapshot() -> Callable[[Path], dict[str, bytes]]:
    """Bytes of every file under data/ plus dvc.lock: compare before and after an action."""
    def take(root: Path) -> dict[str, bytes]:
        files = [p for p in (root / "data").rglob("*") if p.is_file()] + [root / "dvc.lock"]
        return {str(p.relative_to(root)): p.read_bytes() for p in files}
    return take
