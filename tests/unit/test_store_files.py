"""Every SQLite store the project creates is private: files 0600 (with their -wal/-shm),
folders created 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.governance.audit import AuditLog
from live.journal import open_journal
from pipelines.research.registry import ResearchRegistry
from tests.unit.test_journal import T0, sample_session


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The common default umask, under which files are created 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _journal(db: Path) -> None:
    open_journal(f"sqlite:///{db}", clock=lambda: T0).append_many(sample_session(1))


def _audit(db: Path) -> None:
    AuditLog(make_engine(f"sqlite:///{db}")).append(
        ts=datetime(2026, 1, 2, tzinfo=UTC), kind="refused", actor="alice", detail={})


def _paper(db: Path) -> None:
    PaperExchange(make_engine(f"sqlite:///{db}"), seed=1,
                  fill_model=FillModel(fill="next_open", slippage_ticks=0, tick_size=0.05))


def _mlflow(db: Path) -> None:
    ResearchRegistry(f"sqlite:///{db}", db.parent / "artifacts").client.search_experiments()


STORES: dict[str, Callable[[Path], None]] = {
    "journal": _journal, "audit": _audit, "paper_exchange": _paper, "mlflow": _mlflow}


@pytest.mark.parametrize("store", sorted(STORES))
def test_new_sqlite_store_file_is_created_0600(tmp_path: Path, store: str) -> None:
    db = tmp_path / ".stratops" / f"{store}.db"
    STORES[store](db)
    assert _mode(db) == 0o600


def test_new_sqlite_store_wal_and_shm_files_are_0600(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    journal = open_journal(f"sqlite:///{db}", clock=lambda: T0)
    with journal.engine.connect():  # an open connection keeps the -wal and -shm files
        journal.append_many(sample_session(1))
        assert (_mode(db.with_name("journal.db-wal")), _mode(db.with_name("journal.db-shm"))) \
            == (0o600, 0o600)


def test_new_sqlite_store_folder_is_created_0700(tmp_path: Path) -> None:
    make_engine("sqlite:///.stratops/deep/governance.db", tmp_path)
    assert (_mode(tmp_path / ".stratops"), _mode(tmp_path / ".stratops" / "deep")) == \
        (0o700, 0o700)


def test_existing_world_readable_store_is_narrowed_to_0600(tmp_path: Path) -> None:
    db = tmp_path / "governance.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    make_engine(f"sqlite:///{db}")
    assert _mode(db) == 0o600


def test_service_key_folders_are_created_0700_up_to_the_first_existing_one(
        tmp_path: Path) -> None:
    from live.service_key import create_service_key

    create_service_key(tmp_path / ".stratops" / "service" / "runner.key")
    assert (_mode(tmp_path / ".stratops"), _mode(tmp_path / ".stratops" / "service")) == \
        (0o700, 0o700)
