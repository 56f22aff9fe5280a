"""Hot standby with real processes on the real PostgreSQL server: a leader and a standby
runner (``standby_driver.py``) over one journal database and one shared paper exchange.
The leader is SIGKILLed, SIGSTOPped (then woken), frozen between its intent's journal append
and its broker call, or loses its database connection; each time the standby leads within
5 s, the broker saw no client key twice, no intent is left unsettled, and a woken leader
refuses to go on (it is fenced)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.journal import open_journal
from live.state import in_doubt_orders, replay
from tests.integration.postgres import fresh_database

pytestmark = [pytest.mark.integration, pytest.mark.services]
DRIVER = Path(__file__).with_name("standby_driver.py")
ROOT = Path(__file__).resolve().parents[2]
PACE_SECONDS = "0.04"  # 60 bars: a session outlives the checks made mid-session
TAKEOVER_LIMIT_SECONDS = 5.0
EXIT_FENCED = 4
EXIT_JOURNAL_FAILED = 5


class Instance:
    """One runner process; its stdout JSON lines collected by a thread."""

    def __init__(self, holder: str, journal_url: str, exchange_url: str, folder: Path,
                 hook: str = "") -> None:
        self.holder = holder
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), f"{journal_url}?application_name=ha-{holder}",
             exchange_url, holder, PACE_SECONDS, hook, str(folder)],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[dict[str, object]] = []
        assert self.proc.stdout is not None
        out = self.proc.stdout
        threading.Thread(target=lambda: self.lines.extend(json.loads(x) for x in out),
                         daemon=True).start()

    def event(self, name: str) -> dict[str, object] | None:
        return next((line for line in self.lines if line["event"] == name), None)

    def wait_event(self, name: str, timeout: float = 60.0) -> dict[str, object]:
        _wait(lambda: self.event(name) is not None or self.proc.poll() is not None, timeout)
        found = self.event(name)
        assert found is not None, f"{self.holder}: no {name!r}; {self._stderr()[-3000:]}"
        return found

    def finish(self, timeout: float = 60.0) -> tuple[int, str]:
        self.proc.wait(timeout)
        return self.proc.returncode, self._stderr()

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return str(self.proc.stderr.read())  # whole: a long SQL error may follow FENCED

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _wait(done: Callable[[], bool], timeout: float) -> None:
    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:
        time.sleep(0.02)


@pytest.fixture()
def urls() -> Iterator[tuple[str, str]]:
    """Fresh journal and exchange databases, dropped afterwards."""
    with contextlib.contextmanager(fresh_database)("stratops_ha_journal") as journal, \
            contextlib.contextmanager(fresh_database)("stratops_ha_exchange") as exchange:
        # the shared exchange's store, made once (its DDL is not safe to race)
        PaperExchange(_engine(exchange), seed=3,
                      fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))
        _dispose()
        yield journal, exchange


@pytest.fixture()
def pair(urls: tuple[str, str], tmp_path: Path, request: pytest.FixtureRequest
         ) -> Iterator[tuple[Instance, Instance]]:
    """Two instances started together (``request.param``: the crash hook of whichever leads
    first); yields (leader, standby) once one leads and the other follows."""
    hook = getattr(request, "param", "")
    first, second = (Instance(name, *urls, tmp_path, hook) for name in ("A", "B"))
    try:
        _wait(lambda: any(i.event("leading") for i in (first, second)) or
              any(i.proc.poll() is not None for i in (first, second)), 90)
        leader, standby = (first, second) if first.event("leading") else (second, first)
        leader.wait_event("leading")
        standby.wait_event("ready")
        yield leader, standby
    finally:
        for instance in (first, second):
            with contextlib.suppress(ProcessLookupError):
                instance.proc.send_signal(signal.SIGCONT)
            instance.kill()
        _dispose()


_ENGINES: dict[str, sa.Engine] = {}  # one per database, disposed after each test


def _engine(url: str) -> sa.Engine:
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]


def _dispose() -> None:
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def _intents(journal_url: str) -> int:
    with _engine(journal_url).connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM journal WHERE kind = 'OrderIntended'")).scalar_one())


def _takeover_seconds(standby: Instance, deposed: Instance, since: float) -> float:
    leading = standby.wait_event("leading", timeout=30)
    assert leading["deposed"] == deposed.holder
    return float(leading["at"]) - since  # type: ignore[arg-type]  # a JSON number


def _check_books(journal_url: str, exchange_url: str) -> None:
    """No client key reached the broker twice; every journaled intent is settled."""
    with _engine(exchange_url).connect() as conn:
        twice = conn.execute(sa.text(
            "SELECT client_key, count(*) FROM paper_submit_attempts GROUP BY client_key "
            "HAVING count(*) > 1")).all()
        sent = {r.client_key for r in conn.execute(sa.text(
            "SELECT client_key FROM paper_submit_attempts"))}
    journal = open_journal(journal_url)
    _ENGINES[f"{journal_url}#check"] = journal.engine
    assert journal.verify().ok
    state = replay(journal)
    assert twice == []
    assert sent <= set(state.orders)  # nothing reached the broker without its intent
    assert in_doubt_orders(state) == []
    assert len(state.orders) >= 3


def _mid_session(journal_url: str) -> None:
    _wait(lambda: _intents(journal_url) >= 2, 60)
    assert _intents(journal_url) >= 2


def test_leader_sigkill_standby_leads_within_5s_and_nothing_sent_twice(
        urls: tuple[str, str], pair: tuple[Instance, Instance]) -> None:
    leader, standby = pair
    _mid_session(urls[0])
    killed_at = time.time()
    leader.proc.send_signal(signal.SIGKILL)
    assert _takeover_seconds(standby, leader, killed_at) < TAKEOVER_LIMIT_SECONDS
    assert standby.finish()[0] == 0
    _check_books(*urls)


def test_leader_sigstop_then_sigcont_is_fenced_and_standby_leads(
        urls: tuple[str, str], pair: tuple[Instance, Instance]) -> None:
    leader, standby = pair
    _mid_session(urls[0])
    stopped_at = time.time()
    leader.proc.send_signal(signal.SIGSTOP)
    assert _takeover_seconds(standby, leader, stopped_at) < TAKEOVER_LIMIT_SECONDS
    leader.proc.send_signal(signal.SIGCONT)
    code, stderr = leader.finish()
    assert code == EXIT_FENCED and "FENCED" in stderr, stderr[-3000:]
    scode, serr = standby.finish()
    assert scode == 0, serr[-3000:]
    _check_books(*urls)


def _frozen_then_replaced(leader: Instance, standby: Instance, folder: Path) -> None:
    """Wait until the leader froze itself at its hook (its marker file names when), then
    until the standby leads - within the takeover limit of that moment."""
    marker = folder / f"{leader.holder}.paused"
    _wait(marker.exists, 60)
    assert marker.exists()
    _wait(lambda: marker.read_text() != "", 5)
    assert _takeover_seconds(standby, leader, float(marker.read_text())) < TAKEOVER_LIMIT_SECONDS


@pytest.mark.parametrize("pair", ["pause:after_intent:2"], indirect=True)
def test_leader_frozen_between_append_and_send_never_sends_it(
        urls: tuple[str, str], pair: tuple[Instance, Instance], tmp_path: Path) -> None:
    leader, standby = pair
    _frozen_then_replaced(leader, standby, tmp_path)
    leader.proc.send_signal(signal.SIGCONT)
    code, stderr = leader.finish()
    assert code == EXIT_FENCED and "refusing to submit" in stderr, stderr[-3000:]
    assert standby.finish()[0] == 0
    _check_books(*urls)


@pytest.mark.parametrize("pair", ["pause:in_submit:2"], indirect=True)
def test_leader_frozen_inside_its_send_sends_it_alone_and_the_new_leader_never_does(
        urls: tuple[str, str], pair: tuple[Instance, Instance], tmp_path: Path) -> None:
    leader, standby = pair
    _frozen_then_replaced(leader, standby, tmp_path)
    time.sleep(1.0)  # the new leader has settled the frozen intent (closed stale, not sent)
    leader.proc.send_signal(signal.SIGCONT)  # past its check: its order reaches the book
    code, stderr = leader.finish()
    assert code == EXIT_FENCED and "FENCED" in stderr, stderr[-3000:]  # its OrderSubmitted: fenced
    assert standby.finish()[0] == 0
    _check_books(*urls)  # above all: no client key reached the exchange twice


def test_leader_losing_its_database_connection_stops_and_standby_leads(
        urls: tuple[str, str], pair: tuple[Instance, Instance]) -> None:
    leader, standby = pair
    _mid_session(urls[0])
    # frozen while its connections are dropped: on a loaded host the leader could otherwise
    # finish its session between the check above and the drop, and never notice it
    leader.proc.send_signal(signal.SIGSTOP)
    assert leader.event("done") is None, "the leader ended its session before the drop"
    dropped_at = time.time()
    with _engine(urls[0]).connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE application_name = :name"), {"name": f"ha-{leader.holder}"})
        conn.commit()
    leader.proc.send_signal(signal.SIGCONT)
    code, stderr = leader.finish(timeout=30)
    # fail closed either way: the lease renewal failed first (fenced), or the journal's own
    # connection died inside an append (the journal unusable, the runner crashed)
    said = "FENCED:" if code == EXIT_FENCED else "JOURNAL FAILED:"
    assert code in (EXIT_FENCED, EXIT_JOURNAL_FAILED) and said in stderr, stderr[-3000:]
    assert _takeover_seconds(standby, leader, dropped_at) < TAKEOVER_LIMIT_SECONDS
    assert standby.finish()[0] == 0
    _check_books(*urls)
