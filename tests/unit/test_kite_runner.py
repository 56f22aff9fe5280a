"""The runner trading through the Kite adapter (the real ``KiteConnect`` over an in-process
Kite API on a paper exchange; no sockets): restart after a kill sends nothing twice, order
updates pushed over the WebSocket are acted on once, and an access token rejected
mid-session holds the runner (alert, page, nothing sent) until a new login is reconciled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from live.adapters.kite import KiteBroker
from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.events import (
    AlertRaised,
    BarClosed,
    KillSwitchChanged,
    Message,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    ReconciliationCompleted,
)
from live.governance.kill import KillCommand
from live.journal import open_journal
from live.runner.broker_session import RESTORED_ALERT, SESSION_ALERT, UPDATE_ALERT
from live.runner.deployments import build
from live.runner.feed import FeedBar, Idle
from live.runner.runner import Runner
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.unit.test_kite_adapter import (
    PLACE,
    Fault,
    PaperKiteTransport,
    _kite_order,
    kite_client,
)
from tests.unit.test_runner_engine import FIRST_ENTRY, day_bars, record_clock, strategy_config


class Killed(BaseException):
    """A SIGKILL at a crash point: nothing after it runs, nothing is cleaned up."""


class MortalKite(PaperKiteTransport):
    """Kite over the paper exchange whose access token can die: then every request is
    answered with Kite's TokenException envelope."""

    dead = False
    down = False  # Kite does not answer (a timeout, a dropped connection)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> Any:
        if self.dead:
            return self._recorded_error("token_expired")
        if self.down:
            raise requests.ConnectionError("Kite unreachable")
        return super()._route(method, path, params)


@dataclass
class KiteDesk:
    """A journal and the broker's book (a paper exchange behind Kite's API) in one folder:
    what survives a restart. Each :meth:`runner` is a new process with a new Kite client."""

    folder: Path
    pages: list[AlertRaised] = field(default_factory=list)
    transports: list[MortalKite] = field(default_factory=list)

    def exchange(self) -> PaperExchange:
        return PaperExchange(make_engine(f"sqlite:///{self.folder / 'kite_book.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                  tick_size=0.05))

    def broker(self) -> tuple[KiteBroker, PaperExchange]:
        exchange = self.exchange()
        transport = MortalKite(exchange)
        self.transports.append(transport)
        return KiteBroker(kite_client(transport)), exchange

    def runner(self, crash_hook: Any = None, kill_commands: Any = None
               ) -> tuple[Runner, KiteBroker, PaperExchange]:
        broker, exchange = self.broker()
        deployed = build(VersionConfig.from_json(strategy_config()), 1, "live", 1.0, "0" * 64)
        runner = Runner(
            journal=open_journal(f"sqlite:///{self.folder / 'journal.db'}", clock=record_clock),
            broker=broker, deployed=[deployed], mode="live", clock=record_clock,
            risk=PassThroughRisk(), crash_hook=crash_hook, pager=self.pages.append,
            kill_commands=kill_commands,
            market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low, b.close))
        return runner, broker, exchange

    def messages(self, kind: type) -> list[Message]:
        journal = open_journal(f"sqlite:///{self.folder / 'journal.db'}", clock=record_clock)
        return [m for _, m in journal.read() if isinstance(m, kind)]

    def placed_tags(self) -> list[str]:
        return [s.params["tag"] for t in self.transports for s in t.sent
                if (s.method, s.path) == PLACE]


def first_submit_kills() -> Any:
    fired = []

    def hook(point: str) -> None:
        if point == "after_submit" and not fired:
            fired.append(point)
            raise Killed(point)

    return hook


@pytest.fixture(scope="module")
def killed_then_restarted(tmp_path_factory: pytest.TempPathFactory) -> KiteDesk:
    """Killed right after Kite took the first order (its answer never journaled), then
    restarted over the same journal and the same Kite book, and run to the day's end."""
    desk = KiteDesk(tmp_path_factory.mktemp("kite_restart"))
    runner, _, _ = desk.runner(crash_hook=first_submit_kills())
    runner.recover()
    with pytest.raises(Killed):
        runner.run(day_bars())
    restarted, _, _ = desk.runner()
    restarted.recover()
    restarted.run(day_bars())
    return desk


def test_kite_restart_after_a_kill_places_each_tag_once(killed_then_restarted: KiteDesk) -> None:
    tags = killed_then_restarted.placed_tags()
    assert len(tags) > 2
    assert [t for t, n in Counter(tags).items() if n > 1] == []


def test_kite_restart_finds_the_in_doubt_order_by_its_tag(
        killed_then_restarted: KiteDesk) -> None:
    settled = [m for m in killed_then_restarted.messages(OrderSubmitted)
               if m.reason.startswith("settled by status query")]  # type: ignore[attr-defined]
    first_tag = killed_then_restarted.placed_tags()[0]
    assert [m.client_key for m in settled] == [first_tag]  # type: ignore[attr-defined]


def test_kite_restart_journals_each_fill_once(killed_then_restarted: KiteDesk) -> None:
    trade_ids = [m.trade_id for m in killed_then_restarted.messages(OrderFilled)]  # type: ignore[attr-defined]
    assert trade_ids and len(trade_ids) == len(set(trade_ids))


# --- order updates pushed over the WebSocket ---------------------------------------------------

def submitted_entry(desk: KiteDesk) -> tuple[Runner, KiteBroker, PaperExchange, FeedBar]:
    """A runner whose first entry is at Kite, unfilled; returns the bar that fills it."""
    runner, broker, exchange = desk.runner()
    runner.recover()
    bars = day_bars(FIRST_ENTRY + 2)
    runner.run(bars[:FIRST_ENTRY + 1])
    assert runner.summary.intents == 1 and runner.summary.fills == 0
    return runner, broker, exchange, bars[FIRST_ENTRY + 1]


def postback(exchange: PaperExchange) -> dict[str, Any]:
    """Kite's order update for the exchange's (only) order, as the ticker hands it over."""
    (report,) = exchange.orders()
    return _kite_order(report) | {"checksum": "", "user_id": "AB1234", "app_id": 1,
                                  "unfilled_quantity": 0}


def test_postback_of_a_fill_between_bars_journals_the_fill_at_once(tmp_path: Path) -> None:
    desk = KiteDesk(tmp_path)
    runner, broker, exchange, next_bar = submitted_entry(desk)
    exchange.on_bar(next_bar.symbol, next_bar.ts, next_bar.open, next_bar.high, next_bar.low,
                    next_bar.close)  # the market fills it; the runner has not seen the bar
    broker.on_order_update(postback(exchange))
    runner.run([Idle(next_bar.ts)])
    assert len(desk.messages(OrderFilled)) == 1


def test_postback_and_poll_of_one_fill_journal_it_once(tmp_path: Path) -> None:
    desk = KiteDesk(tmp_path)
    runner, broker, exchange, next_bar = submitted_entry(desk)
    exchange.on_bar(next_bar.symbol, next_bar.ts, next_bar.open, next_bar.high, next_bar.low,
                    next_bar.close)
    update = postback(exchange)
    broker.on_order_update(update)
    broker.on_order_update(update)  # Kite may send one update twice
    runner.run([Idle(next_bar.ts), next_bar])  # then the bar's own poll reads it again
    assert len(desk.messages(OrderFilled)) == 1


def test_postback_of_a_cancel_at_the_broker_is_journaled_once(tmp_path: Path) -> None:
    desk = KiteDesk(tmp_path)
    runner, broker, exchange, next_bar = submitted_entry(desk)
    (report,) = exchange.orders()
    exchange.cancel(report.broker_order_id)  # cancelled in Kite's own UI
    broker.on_order_update(postback(exchange))
    runner.run([Idle(next_bar.ts)])
    broker.on_order_update(postback(exchange))
    runner.run([Idle(next_bar.ts + timedelta(seconds=1))])
    cancels = desk.messages(OrderCancelled)
    assert [c.client_key for c in cancels] == [report.client_key]  # type: ignore[attr-defined]


def test_unreadable_postback_is_alerted_and_nothing_else_changes(tmp_path: Path) -> None:
    desk = KiteDesk(tmp_path)
    runner, broker, _, next_bar = submitted_entry(desk)
    broker.on_order_update({"order_id": "1", "status": "COMPLETE"})
    runner.run([Idle(next_bar.ts)])
    (alert,) = [a for a in desk.messages(AlertRaised) if a.code == UPDATE_ALERT]  # type: ignore[attr-defined]
    assert "Kite order '1'" in alert.message  # type: ignore[attr-defined]
    assert desk.messages(OrderFilled) == []


# --- an access token rejected mid-session ------------------------------------------------------

@pytest.fixture(scope="module")
def token_died(tmp_path_factory: pytest.TempPathFactory) -> tuple[KiteDesk, Runner, int, int]:
    """The first entry filled; then Kite rejects the token and the session runs on for the
    rest of the day's bars. Returns (desk, runner, requests before death, intents then)."""
    desk = KiteDesk(tmp_path_factory.mktemp("token_died"))
    runner, _, _ = desk.runner()
    runner.recover()
    bars = day_bars()
    runner.run(bars[:FIRST_ENTRY + 3])
    assert runner.summary.fills == 1
    transport = desk.transports[-1]
    transport.dead = True
    before = len(transport.sent)
    intents = len(desk.messages(OrderIntended))
    runner.run(bars[FIRST_ENTRY + 3:])
    return desk, runner, before, intents


def test_token_rejected_mid_session_sends_nothing_after_the_rejection(
        token_died: tuple[KiteDesk, Runner, int, int]) -> None:
    desk, _, before, _ = token_died
    after = desk.transports[-1].sent[before:]
    assert [(s.method, s.path) for s in after] == [("GET", "/trades")]  # told: dead


def test_token_rejected_mid_session_intends_no_order(
        token_died: tuple[KiteDesk, Runner, int, int]) -> None:
    desk, _, _, intents = token_died
    assert len(desk.messages(OrderIntended)) == intents


def test_token_rejected_mid_session_is_alerted_and_paged_once(
        token_died: tuple[KiteDesk, Runner, int, int]) -> None:
    desk, _, _, _ = token_died
    alerts = [a for a in desk.messages(AlertRaised) if a.code == SESSION_ALERT]  # type: ignore[attr-defined]
    assert len(alerts) == 1 and alerts[0].severity == "critical"  # type: ignore[attr-defined]
    assert [p.code for p in desk.pages] == [SESSION_ALERT]


def test_token_rejected_mid_session_still_journals_the_bars(
        token_died: tuple[KiteDesk, Runner, int, int]) -> None:
    desk, _, _, _ = token_died
    assert len(desk.messages(BarClosed)) == len(day_bars())


def test_new_login_is_reconciled_before_the_hold_lifts(tmp_path: Path) -> None:
    desk = KiteDesk(tmp_path)
    runner, _, _ = desk.runner()
    runner.recover()
    bars = day_bars(FIRST_ENTRY + 6)
    runner.run(bars[:FIRST_ENTRY + 3])
    desk.transports[-1].dead = True
    runner.run(bars[FIRST_ENTRY + 3:FIRST_ENTRY + 5])
    assert runner.broker_held(bars[FIRST_ENTRY + 4].ts)
    fresh, _ = desk.broker()
    assert runner.resume_broker(fresh, bars[FIRST_ENTRY + 4].ts)
    assert not runner.broker_held(bars[FIRST_ENTRY + 5].ts)
    last = desk.messages(ReconciliationCompleted)[-1]
    assert last.clean  # type: ignore[attr-defined]
    assert [a.code for a in desk.messages(AlertRaised)][-1] == RESTORED_ALERT  # type: ignore[attr-defined]


def test_new_login_with_a_book_that_disagrees_keeps_holding(tmp_path: Path) -> None:
    desk = KiteDesk(tmp_path)
    runner, _, _ = desk.runner()
    runner.recover()
    bars = day_bars(FIRST_ENTRY + 6)
    runner.run(bars[:FIRST_ENTRY + 3])
    desk.transports[-1].dead = True
    runner.run(bars[FIRST_ENTRY + 3:FIRST_ENTRY + 5])
    other = KiteDesk(tmp_path / "other")  # a different account's (empty) book
    other.folder.mkdir()
    fresh, _ = other.broker()
    assert not runner.resume_broker(fresh, bars[FIRST_ENTRY + 4].ts)
    assert runner.broker_held(bars[FIRST_ENTRY + 5].ts)


def test_token_rejected_on_the_first_order_journals_it_rejected_and_sends_nothing_more(
        tmp_path: Path) -> None:
    desk = KiteDesk(tmp_path)
    runner, _, _ = desk.runner()
    runner.recover()
    transport = desk.transports[-1]
    transport.fail_next(*PLACE, Fault(error="token_expired"))
    runner.run(day_bars())
    (submitted,) = desk.messages(OrderSubmitted)
    assert submitted.outcome == "rejected"  # type: ignore[attr-defined]
    assert "TokenException" in submitted.reason  # type: ignore[attr-defined]
    place_at = next(i for i, s in enumerate(transport.sent) if (s.method, s.path) == PLACE)
    assert transport.sent[place_at + 1:] == []
    assert [p.code for p in desk.pages] == [SESSION_ALERT]


def test_books_unreadable_at_a_bar_hold_that_bar_then_trading_resumes(tmp_path: Path) -> None:
    desk = KiteDesk(tmp_path)
    runner, _, _ = desk.runner()
    runner.recover()
    bars = day_bars()
    runner.run(bars[:FIRST_ENTRY])
    transport = desk.transports[-1]
    transport.down = True
    runner.run(bars[FIRST_ENTRY:FIRST_ENTRY + 3])  # the first entry's bar among them
    assert desk.messages(OrderIntended) == []
    assert [s.method for s in transport.sent if s.method != "GET"] == []
    assert len([a for a in desk.messages(AlertRaised)
                if a.code == "broker_unavailable"]) == 3  # type: ignore[attr-defined]
    assert desk.pages == []  # the session is alive: nothing to log in again for
    transport.down = False
    runner.run(bars[FIRST_ENTRY + 3:])
    assert len(desk.messages(OrderIntended)) > 0
    assert len(desk.messages(BarClosed)) == len(bars)


def test_flatten_kill_pulled_during_the_hold_is_sent_once_the_new_session_is_reconciled(
        tmp_path: Path) -> None:
    desk = KiteDesk(tmp_path)
    commands: list[KillCommand] = []
    runner, _, _ = desk.runner(kill_commands=lambda last: [c for c in commands if c.id > last])
    runner.recover()
    bars = day_bars(FIRST_ENTRY + 8)
    runner.run(bars[:FIRST_ENTRY + 3])  # short one lot
    desk.transports[-1].dead = True
    runner.run(bars[FIRST_ENTRY + 3:FIRST_ENTRY + 4])
    commands.append(KillCommand(1, "ema_cross", "flatten", "ops", "test", "2025-03-03T09:45"))
    runner.run([Idle(bars[FIRST_ENTRY + 3].ts + timedelta(seconds=5)),
                bars[FIRST_ENTRY + 4]])
    sent_while_held = len(desk.messages(OrderIntended))
    fresh, _ = desk.broker()
    assert runner.resume_broker(fresh, bars[FIRST_ENTRY + 4].ts)
    runner.run(bars[FIRST_ENTRY + 5:FIRST_ENTRY + 6])
    intents = desk.messages(OrderIntended)
    assert sent_while_held == 1  # only the entry before the token died
    assert [(i.side, i.qty) for i in intents[1:]] == [("BUY", 75)]  # type: ignore[attr-defined]
    assert [k.mode for k in desk.messages(KillSwitchChanged)] == ["flatten"]  # type: ignore[attr-defined]
