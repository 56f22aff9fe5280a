"""``stratops live run`` with ``live.snapshots.writer: process``: the session's snapshots
(runner memory included) are written by the spawned writer child from the follower's
picklable configuration (stratops/snapshot_follower.py), not by the writer thread, and the
next start resumes from one to exactly the runner state a full fold of the journal gives.

A real MLflow registry with one recorded candidate, the repository's reviewed files, the
CLI in process (its writer child a real spawned interpreter); no mocks."""

from __future__ import annotations

import pickle
import re
import shutil
from functools import partial
from pathlib import Path
from typing import cast

import pytest

from live.journal import open_journal
from live.runner.fold_memory import fold_digest
from live.runner.runner import Runner
from live.snapshots import snapshot_store
from pipelines.research.registry import ResearchRegistry
from stratops.cli import main
from stratops.snapshot_follower import FollowerBroker, FollowerBrokerError
from tests.doubles import spy_preloads
from tests.integration.test_registry import Candidate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
READ_ONLY = ("live", "strategies", "pipelines", "stratops")  # linked, never written
COPIED = ("compliance.yaml", "gates.yaml", "playbooks.yaml", "policy.yaml", "risk.yaml",
          "roles.yaml", "dvc.yaml", "dvc.lock")  # reviewed files; the datasets' catalog
RUN = ["live", "run", "--mode", "shadow", "--candidates", "--strategy", "ema_cross",
       "--feed", "replay:nse_index_1m", "--from", "2025-03-03", "--to", "2025-03-04"]


@pytest.fixture()
def project(tmp_path: Path, candidate: Candidate, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root of its own (the repository's code, data and reviewed files; its own
    stores), one candidate recorded, snapshots every 1,000 entries by the writer process."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    for name in READ_ONLY:
        (root / name).symlink_to(REPO / name)
    for name in ("datasets", "imports", "instruments", "labels"):
        (root / "data" / name).symlink_to(REPO / "data" / name)
    for name in COPIED:
        shutil.copy2(REPO / name, root / name)
    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    candidate.record(ResearchRegistry(uri, root / "mlflow" / "artifacts"))
    monkeypatch.setenv("STRATOPS_ROOT", str(root))
    monkeypatch.setenv("STRATOPS_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("STRATOPS_LIVE__SNAPSHOTS__EVERY_EVENTS", "1000")
    monkeypatch.setenv("STRATOPS_LIVE__SNAPSHOTS__WRITER", "process")
    monkeypatch.setenv("COLUMNS", "400")  # the CLI's lines unwrapped
    return root


def _session(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(RUN) == 0
    return capsys.readouterr().out


def test_live_run_snapshots_are_written_by_the_process_and_restore_to_a_full_fold(
        project: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    preloads = spy_preloads(monkeypatch)
    first = _session(capsys)
    assert len(preloads) == 1  # the session warmed its runner before the first bar
    said = re.search(r"snapshots: (\d+) written by the writer (\w+)(.*)", first)
    assert said is not None, first
    assert said[2] == "process" and int(said[1]) >= 2 and said[3] == "", said[0]
    journal = open_journal(f"sqlite:///{project / '.stratops' / 'journal-shadow.db'}")
    seq, _ = journal.head()
    stored = [row.seq for row in snapshot_store(journal).newest_first()]
    assert seq in stored and len(stored) >= 2  # periodic ones and the session's end

    restarted, full = _runner(), _runner()  # the next start: from the snapshot, or not
    assert restarted.restore_snapshot(snapshot_store(restarted.journal)) == []
    assert restarted.journal_position[0] == seq and restarted.fold_journal() == 0
    assert full.fold_journal() == seq and fold_digest(full) == fold_digest(restarted)

    again = _session(capsys)  # and the CLI's next start resumes from it
    assert f"recovered from the snapshot at seq {seq:,} + 0 journal entries" in again, again


def _runner() -> Runner:
    """A runner as ``stratops live run`` builds it (nothing folded, nothing traded)."""
    from stratops.live_ops import prepare

    return cast(Runner, prepare("shadow", "replay:nse_index_1m", None, None, ["ema_cross"],
                                True).runner)


def test_follower_broker_refuses_every_call_and_pickles() -> None:
    broker = pickle.loads(pickle.dumps(FollowerBroker("paper")))
    for call in (partial(broker.submit, None), partial(broker.cancel, "B1"), broker.orders,
                 broker.fills, broker.positions, partial(broker.modify, "B1", qty=1),
                 partial(broker.status, client_key="K")):
        with pytest.raises(FollowerBrokerError, match="never trades"):
            call()


@pytest.mark.parametrize("oco", [True, False])
def test_follower_broker_offers_the_real_brokers_oco(oco: bool) -> None:
    """A version with a stop and a target loads on the follower exactly where it loads on
    the broker it trades through (the runner refuses one without one-cancels-other)."""
    broker = pickle.loads(pickle.dumps(FollowerBroker("paper", oco)))
    assert broker.supports_oco is oco
