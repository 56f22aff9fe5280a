"""A session against the fake Kite through the real clients, end to end: a real runner
process (``kite_driver.py``: ``open_kite_broker`` + ``kite_feed`` on the instrument
master's front contract, ``KiteConnect`` + ``KiteTicker`` over loopback) trades ema_cross
(default parameters, 1 lot) on 2025-06-10 of the synthetic NIFTY data while this process
plays the fake Kite minute by minute in lock-step with it (advance one minute, wait until
the runner has processed that bar and sent its orders, advance again: fills come at the
next minute's first tick, as the paper exchange's ``next_open``).

- the trades equal the paper session's on the same prices (both at 0 slippage);
- a SIGKILL mid-session and a restart send nothing twice, and end in the uninterrupted
  run's trading state;
- a desk kill-switch flatten reaches the fake's book within 1 s of wall time;
- a dropped socket is recovered with no missed bar; bars sent while it is down are
  flagged in the journal (an alert naming the minutes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from live.contracts import ContractBook
from live.runner.feed import replay_frame
from pipelines.datasets.instrument_master import build_master
from strategies.contracts import RollRule
from stratops.settings import Settings
from tests.fake_kite import FakeKite, MarginSettings
from tests.synthetic_datasets import nse_index_1m_path

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
IST = ZoneInfo("Asia/Kolkata")
DAY = date(2025, 6, 10)  # 100+ daily closes before it: the VaR and volatility caps compute
MINUTE = timedelta(minutes=1)
WAIT_S = 30.0  # a generous bound for one lock-step (never asserted as a speed)
BARS = 150  # 09:15-11:44: ema_cross enters and exits more than once by then


def _bars() -> pd.DataFrame:
    return replay_frame(nse_index_1m_path(), ["NIFTY"], DAY, DAY).head(BARS)


def _master(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The master file (the synthetic Kite dump) and the row of the contract it selects
    (typed, as the fake takes it)."""
    master = build_master(date(2025, 1, 1), date(2025, 12, 31))
    path = folder / "kite_instruments.csv"
    path.write_text(master.to_csv())
    rule = RollRule(days_before_expiry=Settings(root=folder).instruments.roll_days_before_expiry)
    front = ContractBook(master, rule).front("NIFTY", DAY)
    row = {name: getattr(front, name) for name in (
        "instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry",
        "strike", "tick_size", "lot_size", "instrument_type", "segment", "exchange")}
    return path, row


@dataclass
class Run:
    """One runner process and its working folder."""

    folder: Path
    proc: subprocess.Popen[str] | None = None
    seen: set[datetime] = field(default_factory=set)

    def start(self, venue: str, crash_at: str = "") -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), TZ="Asia/Kolkata")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.kite_driver", str(self.folder), venue,
             *([crash_at] if crash_at else [])],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def lines(self) -> list[str]:
        path = self.folder / "progress"
        return path.read_text().splitlines() if path.exists() else []

    def bars_done(self) -> set[datetime]:
        return {datetime.fromisoformat(line.split()[1]) for line in self.lines()
                if line.startswith("bar ")}

    def alerts(self) -> list[str]:
        return [line.split(" ", 1)[1] for line in self.lines() if line.startswith("alert ")]

    def wait(self, what: str, done: Callable[[], bool], timeout: float = WAIT_S,
             alive: bool = True) -> None:
        """Until ``done()``; a runner that exits meanwhile fails it (``alive=False``: the
        runner is known dead, e.g. killed, and what is awaited is the others' reaction)."""
        deadline = time.monotonic() + timeout
        while not done():
            assert self.proc is not None
            if alive and self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"runner exited {self.proc.returncode} waiting for "
                                     f"{what}:\n{err}")
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.005)

    def result(self, timeout: float = WAIT_S) -> dict[str, Any]:
        assert self.proc is not None
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


class Market:
    """The fake Kite and the lock-step."""

    def __init__(self, fake: FakeKite, bars: pd.DataFrame) -> None:
        self.fake = fake
        self.minutes: list[datetime] = [ts.to_pydatetime() for ts in bars["ts"]]
        self.next = 0  # index of the next minute to send

    def connected(self, run: Run) -> None:
        run.wait("the ticker's subscription", lambda: any(self.fake.ticker.subscriptions()))

    def step(self, run: Run) -> datetime:
        """Send the next minute's ticks; wait until the runner processed that bar."""
        minute: datetime = self.minutes[self.next]
        self.next += 1
        self.fake.advance(minute + MINUTE)
        run.wait(f"bar {minute}", lambda: minute in run.bars_done())
        return minute

    def finish(self, run: Run, more: int | None = None) -> dict[str, Any]:
        """Play the rest (or ``more`` minutes), then end the runner's feed; its report."""
        end = len(self.minutes) if more is None else min(self.next + more, len(self.minutes))
        while self.next < end:
            self.step(run)
        (run.folder / "stop").write_text("")  # seen at the feed's next item (an Idle)
        return run.result()


def _prepare(folder: Path, fake: FakeKite | None, master: Path, start: datetime, *,
             risk: str = "engine") -> Run:
    folder.mkdir(parents=True, exist_ok=True)
    run: dict[str, Any] = {"master_file": str(master), "dataset": str(nse_index_1m_path()),
                           "start": start.isoformat(), "bars": BARS, "risk": risk}
    if fake is not None:
        run |= {"rest_root": fake.rest_root, "ticker_root": fake.ticker_root}
        secret = folder / "session.json"
        secret.write_text(json.dumps({"api_key": fake.api_key, "api_secret": fake.api_secret,
                                      "access_token": fake.access_token,
                                      "issued_at": (start - timedelta(hours=1)).isoformat()}))
        secret.chmod(0o600)
    (folder / "run.json").write_text(json.dumps(run))
    return Run(folder)


START = datetime(2025, 6, 10, 9, 14, 30, tzinfo=IST)  # the first live minute is 09:15


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return _master(tmp_path_factory.mktemp("master"))


def _paper_capital() -> float:
    """risk.yaml's paper capital: the fake Kite's account holds the same, so the caps
    measured against Kite's margins see what the paper session's see."""
    from live.risk.limits import load_risk_limits
    from strategies.roster import STRATEGIES

    return load_risk_limits(REPO / "risk.yaml", {"NIFTY", "BANKNIFTY"},
                            set(STRATEGIES)).margin.available_capital_inr


def _fake(row: dict[str, Any]) -> FakeKite:
    return FakeKite(_bars(), [row], symbol_map={"NIFTY": row["tradingsymbol"]},
                    slippage_points=0.0, margins=MarginSettings(capital_inr=_paper_capital()))


@dataclass
class Baseline:
    paper: dict[str, Any]
    kite: dict[str, Any]
    placed: dict[str, int]  # tag -> place calls the fake applied


@pytest.fixture(scope="module")
def baseline(master: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
             ) -> Baseline:
    """The paper session and the uninterrupted Kite session (run side by side)."""
    path, row = master
    folder = tmp_path_factory.mktemp("baseline")
    paper = _prepare(folder / "paper", None, path, START)
    paper.start("paper")
    with _fake(row) as fake:
        market = Market(fake, _bars())
        kite = _prepare(folder / "kite", fake, path, START)
        kite.start("kite")
        market.connected(kite)
        got = market.finish(kite)
        placed = {f["key"]: fake.placed(f["key"]) for f in got["fills"]}
    return Baseline(paper.result(), got, placed)


def _trades(result: dict[str, Any]) -> list[tuple[str, str, int, float]]:
    return [(f["key"], f["side"], f["qty"], round(f["price"], 2)) for f in result["fills"]]


def test_the_kite_session_trades_as_the_paper_session(baseline: Baseline) -> None:
    got, want = baseline.kite, baseline.paper
    assert len(want["fills"]) >= 4, want  # the day traded: entries and exits
    # same client keys (each derived from the bar's trace: same times), sides, quantities,
    # prices (both at 0 slippage: the next minute's open)
    assert _trades(got) == _trades(want)
    assert [(i["key"], i["side"], i["qty"], i["type"]) for i in got["intents"]] == \
        [(i["key"], i["side"], i["qty"], i["type"]) for i in want["intents"]]
    assert set(baseline.placed.values()) == {1}
    # the production pre-trade engine ran on both, with the same verdicts
    assert got["risk_checks"] and got["risk_checks"] == want["risk_checks"]
    assert got["positions"] == want["positions"]


def test_a_sigkill_mid_session_and_a_restart_send_nothing_twice(
        tmp_path: Path, master: tuple[Path, dict[str, Any]], baseline: Baseline) -> None:
    path, row = master
    with _fake(row) as fake:
        market = Market(fake, _bars())
        run = _prepare(tmp_path / "kite", fake, path, START)
        run.start("kite", crash_at="after_submit:3")
        market.connected(run)
        with pytest.raises(AssertionError, match="runner exited -9"):
            while market.next < len(market.minutes):
                market.step(run)
        assert run.proc is not None and run.proc.returncode == -signal.SIGKILL
        crashed_at = market.minutes[market.next - 1]
        assert crashed_at < market.minutes[-20]  # mid-session
        run.wait("the killed socket closed", lambda: not any(fake.ticker.subscriptions()),
                 alive=False)
        restart = json.loads((run.folder / "run.json").read_text())
        restart["start"] = (crashed_at + MINUTE / 2).isoformat()  # live from the next minute
        (run.folder / "run.json").write_text(json.dumps(restart))
        run.start("kite")
        market.connected(run)
        got = market.finish(run)
        tags = {i["key"] for i in got["intents"]}
        placed = {tag: fake.placed(tag) for tag in tags}
    assert placed and set(placed.values()) == {1}, placed  # nothing sent twice
    assert _trades(got) == _trades(baseline.kite)
    assert got["hash"] == baseline.kite["hash"]


def _open_qty(fake: FakeKite) -> int:
    with fake.lock:
        return sum(int(r["quantity"]) for r in fake.book.position_rows()["net"])


def _orders_placed(fake: FakeKite) -> list[str]:
    return [str(r.params.get("tag")) for r in fake.requests
            if r.method == "POST" and r.path == "/orders/regular" and r.applied]


@pytest.mark.parametrize("risk", ["engine", "pass"])
def test_a_kill_switch_flatten_reaches_the_fake_broker_within_a_second(
        tmp_path: Path, master: tuple[Path, dict[str, Any]], risk: str) -> None:
    path, row = master
    with _fake(row) as fake:
        market = Market(fake, _bars())
        run = _prepare(tmp_path / "kite", fake, path, START, risk=risk)
        run.start("kite")
        market.connected(run)
        while _open_qty(fake) == 0:  # trade until the fake holds the strategy's position
            market.step(run)
        held = _open_qty(fake)
        before = _orders_placed(fake)
        desk, staged = run.folder / "desk.json", run.folder / "desk.json.tmp"
        staged.write_text(json.dumps([{"id": 1, "scope": "ema_cross", "mode": "flatten",
                                       "actor": "ops", "reason": "e2e kill",
                                       "created_at": ""}]))
        pulled = time.monotonic()
        staged.rename(desk)  # the desk's command, as the runner polls it between bars
        while len(_orders_placed(fake)) == len(before) and time.monotonic() - pulled < 3:
            time.sleep(0.002)
        reached = time.monotonic() - pulled
        flatten = [t for t in _orders_placed(fake) if t not in before]
        with fake.lock:
            sent = [o for o in fake.book.order_list() if o["tag"] in flatten]
        got = market.finish(run, more=2)  # its fill at the next minute's first tick
    assert reached < 1.0, f"the flatten reached the fake after {reached:.3f} s"
    assert len(sent) == 1 and sent[0]["quantity"] == abs(held)
    assert sent[0]["transaction_type"] == ("SELL" if held > 0 else "BUY")
    assert got["positions"] == {"NIFTY": 0}
    assert all(fake.placed(t) == 1 for t in _orders_placed(fake))


def test_a_dropped_socket_is_recovered_and_bars_sent_while_down_are_flagged(
        tmp_path: Path, master: tuple[Path, dict[str, Any]]) -> None:
    path, row = master
    with _fake(row) as fake:
        market = Market(fake, _bars()[:40])
        run = _prepare(tmp_path / "kite", fake, path, START)
        run.start("kite")
        market.connected(run)
        for _ in range(5):
            market.step(run)
        # 1. dropped between minutes, reconnected before the next: no bar missed
        assert fake.faults.disconnect() == 1
        run.wait("the reconnect", lambda: any("feed_reconnected" in a for a in run.alerts()))
        market.connected(run)
        for _ in range(5):
            market.step(run)
        # 2. dropped while two minutes are sent: those are flagged, never made up
        assert fake.faults.disconnect() == 1
        run.wait("the disconnect", lambda: sum("feed_disconnected" in a
                                               for a in run.alerts()) == 2)
        lost = market.minutes[market.next:market.next + 2]
        fake.advance(lost[-1] + MINUTE)  # nobody subscribed: these ticks are lost
        market.next += 2
        run.wait("the second reconnect",
                 lambda: sum("feed_reconnected" in a for a in run.alerts()) == 2)
        market.connected(run)
        got = market.finish(run)
        done, alerts = run.bars_done(), run.alerts()
    assert done == set(market.minutes) - set(lost)
    gap = [a for a in alerts if a.startswith("no_tick_minutes")]
    assert gap == [f"no_tick_minutes NIFTY: no tick in 2 session minute(s) "
                   f"{lost[0]:%Y-%m-%d %H:%M}-{lost[-1]:%H:%M}: no bar for them "
                   "(no price is made up)"], alerts
    assert got["fills"] == [] or all(fake.placed(f["key"]) == 1 for f in got["fills"])
