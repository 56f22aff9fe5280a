"""Crash and recover with real processes: SIGKILL the runner at each point of the order
path, restart it, and require no duplicate order at the paper exchange and the same final
trading state as an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from live.db import make_engine
from live.journal import open_journal
from live.state import replay, state_hash

pytestmark = pytest.mark.integration
DRIVER = Path(__file__).with_name("runner_driver.py")
ROOT = Path(__file__).resolve().parents[2]
SPAN = ("ema_cross", "2025-03-03", "2025-03-03")


LEVELS = json.dumps({"stop_points": 12.0, "trail_points": 18.0, "target_points": 30.0})


def _drive(folder: Path, crash: str | None = None, levels: str = "{}",
           kill_after: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(DRIVER), str(folder), *SPAN, levels, kill_after,
                           crash or ""], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("clean")
    proc = _drive(folder)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["orders"] >= 6 and result["max_submits"] == 1
    return {**result, "folder": folder}


@pytest.mark.parametrize("point", ["before_intent:3", "after_intent:3", "after_submit:3",
                                   "after_ack:3", "after_fill:3", "after_intent:1"])
def test_sigkill_then_restart_sends_nothing_twice_and_ends_in_the_same_state(
        point: str, tmp_path: Path, uninterrupted: dict) -> None:
    crashed = _drive(tmp_path, point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    restarted = _drive(tmp_path)
    assert restarted.returncode == 0, restarted.stderr
    result = json.loads(restarted.stdout.strip().splitlines()[-1])
    assert result["max_submits"] == 1  # no order ever reached the exchange twice
    assert result["hash"] == uninterrupted["hash"]


@pytest.fixture(scope="module")
def uninterrupted_protected(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("clean-protected")
    proc = _drive(folder, levels=LEVELS)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["protective"] >= 10 and result["max_submits"] == 1
    return result


# intents: 1 the first entry, 2 its stop, 3 its target; fills: 1 the entry, 2 its exit
@pytest.mark.parametrize("point", ["before_intent:2", "after_intent:2", "after_submit:2",
                                   "after_ack:3", "after_fill:2", "after_modify:1",
                                   "after_modify:5"])
def test_sigkill_around_protective_orders_then_restart_ends_in_the_same_state(
        point: str, tmp_path: Path, uninterrupted_protected: dict) -> None:
    crashed = _drive(tmp_path, point, LEVELS)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    restarted = _drive(tmp_path, levels=LEVELS)
    assert restarted.returncode == 0, restarted.stderr
    result = json.loads(restarted.stdout.strip().splitlines()[-1])
    assert result["max_submits"] == 1
    assert result["hash"] == uninterrupted_protected["hash"]


KILL_AFTER = "25"  # short since bar 23; the desk pulls a flatten 20 s after bar 25


def _result(proc: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def uninterrupted_kill(tmp_path_factory: pytest.TempPathFactory) -> dict:
    proc = _drive(tmp_path_factory.mktemp("clean-kill"), kill_after=KILL_AFTER)
    assert proc.returncode == 0, proc.stderr
    result = _result(proc)
    assert result["kill_intent"] == 2 and result["intents_after_kill"] == 1  # the flatten
    assert result["positions"] == {"NIFTY": 0}
    return result


# intent 2 is the flatten sent between bars 25 and 26
@pytest.mark.parametrize("point", ["after_intent:2", "after_submit:2", "after_ack:2"])
def test_sigkill_around_a_between_bar_flatten_then_restart_sends_it_once(
        point: str, tmp_path: Path, uninterrupted_kill: dict) -> None:
    crashed = _drive(tmp_path, point, kill_after=KILL_AFTER)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    restarted = _drive(tmp_path, kill_after=KILL_AFTER)
    assert restarted.returncode == 0, restarted.stderr
    result = _result(restarted)
    assert result["max_submits"] == 1 and result["intents_after_kill"] == 1
    assert result["hash"] == uninterrupted_kill["hash"]


def test_sigkill_after_the_kill_is_journaled_before_its_flatten_then_restart_flattens_once(
        tmp_path: Path, uninterrupted_kill: dict) -> None:
    crashed = _drive(tmp_path, "before_intent:2", kill_after=KILL_AFTER)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    result = _result(_drive(tmp_path, kill_after=KILL_AFTER))
    # the restarted runner flattens on the bar it re-processes (a bar-keyed trace)
    assert result["max_submits"] == 1 and result["intents_after_kill"] == 1
    assert result["positions"] == uninterrupted_kill["positions"]


def _replay_cli(folder: Path) -> dict[str, str]:
    """``stratops journal replay`` on the journal in ``folder``: its printed hashes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200",
           "STRATOPS_LIVE__JOURNAL_URL": f"sqlite:///{folder / 'journal.db'}"}
    proc = subprocess.run([sys.executable, "-m", "stratops.cli", "journal", "replay",
                           "--mode", "live"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    found = dict(re.findall(r"^(state hash|trading state hash) ([0-9a-f]{64})$", proc.stdout,
                            re.MULTILINE))
    assert set(found) == {"state hash", "trading state hash"}, proc.stdout
    return found


@pytest.fixture(scope="module")
def replayed_after_restart(tmp_path_factory: pytest.TempPathFactory, uninterrupted: dict
                           ) -> tuple[dict[str, str], dict[str, str]]:
    """The CLI's hashes of the uninterrupted journal and of a crashed-then-restarted one."""
    folder = tmp_path_factory.mktemp("restarted")
    assert _drive(folder, "after_submit:3").returncode == -signal.SIGKILL
    assert _drive(folder).returncode == 0
    return _replay_cli(uninterrupted["folder"]), _replay_cli(folder)


def test_journal_replay_prints_equal_trading_hashes_for_a_restarted_run(
        replayed_after_restart: tuple[dict[str, str], dict[str, str]]) -> None:
    clean, restarted = replayed_after_restart
    assert restarted["trading state hash"] == clean["trading state hash"]


def test_journal_replay_full_hash_counts_the_restart_bookkeeping(
        replayed_after_restart: tuple[dict[str, str], dict[str, str]]) -> None:
    clean, restarted = replayed_after_restart
    assert restarted["state hash"] != clean["state hash"]  # mode records, reconciliation


def _clean_copy(uninterrupted: dict, tmp_path: Path) -> Path:
    """A private copy of the uninterrupted run's folder (its journal and exchange), instead
    of driving the same deterministic day again."""
    folder = tmp_path / "clean"
    shutil.copytree(uninterrupted["folder"], folder)
    return folder


def test_two_replays_of_one_journal_give_identical_state_hashes(
        tmp_path: Path, uninterrupted: dict) -> None:
    folder = _clean_copy(uninterrupted, tmp_path)
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}")
    assert journal.verify().ok
    assert state_hash(replay(journal)) == state_hash(replay(journal))


def test_corrupt_journal_tail_halts_the_runner(tmp_path: Path, uninterrupted: dict) -> None:
    folder = _clean_copy(uninterrupted, tmp_path)
    engine = make_engine(f"sqlite:///{folder / 'journal.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS journal_no_update")
        conn.exec_driver_sql("UPDATE journal SET body = '{broken' WHERE seq = "
                             "(SELECT MAX(seq) FROM journal)")
    proc = _drive(folder)
    assert proc.returncode != 0 and "journal broken" in proc.stderr
