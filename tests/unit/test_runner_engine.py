"""The runner on the synthetic NSE minute bars (2025-03-03/04 NIFTY), a SQLite journal and the paper
exchange: broker faults, restarts, feed anomalies and kill switches.

EMA cross with default params on 2025-03-03 goes short at the close of bar 22 (filled at
bar 23's open) and flips long at bar 30, short at bar 32 and long at bar 61.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from live.adapters.paper import FillModel, PaperExchange
from live.broker import Outcome, Side, SubmitResult
from live.db import make_engine
from live.events import (
    AlertRaised,
    BarClosed,
    GovernanceDecided,
    KillMode,
    KillSwitchChanged,
    Message,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    RiskChecked,
    SignalRaised,
    SignalSide,
)
from live.governance.kill import KillCommand
from live.journal import Journal, open_journal
from live.risk.interface import OrderProposal, RiskDecision, RiskEngine
from live.risk.limits import RiskLimits, load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.decisions import UnsupportedVersionError
from live.runner.deployments import build
from live.runner.feed import IDLE_SLICE_SECONDS, FeedBar, Idle, paced, replay_bars, replay_frame
from live.runner.runner import Runner, RunnerHalted
from live.state import LiveState, OrderStatus, replay, trading_state_hash
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk, submitted_count
from tests.synthetic_datasets import nse_index_1m_path

DATASET = nse_index_1m_path()  # built in process by the DVC stage's command
STRATEGY = "ema_cross"
FIRST_ENTRY = 22  # bar of 2025-03-03 whose close decides the first (short) entry
DAY1_FROM = 285  # 14:00 on 2025-03-03
BEFORE_CUTOFF = 344  # 14:59, whose close flattens any position (filled at 15:00's open)


def record_clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


@functools.cache
def nifty(start: date, end: date) -> pd.DataFrame:
    return replay_frame(DATASET, ["NIFTY"], start, end)


def day_bars(count: int | None = None, *, start: date = date(2025, 3, 3),
             end: date | None = None) -> list[FeedBar]:
    """The first ``count`` NIFTY bars of ``start`` .. ``end`` (all when None)."""
    bars = list(replay_bars(nifty(start, end or start)))
    return bars if count is None else bars[:count]


def strategy_config(strategy: str = STRATEGY) -> dict:
    spec = get_strategy(strategy)
    return {"strategy": strategy, "params": get_params(spec.default_params()), "venue": "NSE",
            "cutoff": "venue", "symbols": ["NIFTY"],
            "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05}}


@dataclass
class Stores:
    """A journal and a paper exchange on SQLite files in one folder: what survives a
    restart. Each :meth:`runner` is a new process's view of them."""

    folder: Path
    config: dict
    mode: str = "live"
    version: int = 1
    fraction: float = 1.0
    fill: str = "next_open"  # "close": market orders fill at once, as at a real broker

    def journal(self) -> Journal:
        return open_journal(f"sqlite:///{self.folder / 'journal.db'}", clock=record_clock)

    def exchange(self) -> PaperExchange:
        return PaperExchange(make_engine(f"sqlite:///{self.folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill=self.fill,  # type: ignore[arg-type]
                                                  slippage_ticks=1.0, tick_size=0.05))

    def runner(self, risk: RiskEngine | None = None,
               kill_commands: Callable[[int], list] | None = None, *,
               broker: object | None = None,
               crash_hook: Callable[[str], None] | None = None) -> Runner:
        """A new process's runner over these stores (``broker``: another view of the
        exchange - a wrapper injecting faults; the market feeds it the bars)."""
        exchange = broker if broker is not None else self.exchange()
        deployed = build(VersionConfig.from_json(self.config), self.version, self.mode,
                         self.fraction, "0" * 64)
        return Runner(journal=self.journal(), broker=exchange, deployed=[deployed],
                      mode=self.mode, clock=record_clock, risk=risk or PassThroughRisk(),
                      kill_commands=kill_commands,
                      crash_hook=crash_hook, market=lambda b: exchange.on_bar(  # type: ignore[attr-defined]
                          b.symbol, b.ts, b.open, b.high, b.low, b.close))

    def run(self, bars: Iterable[FeedBar]) -> Runner:
        """Start (recover) a new runner and feed it ``bars``."""
        runner = self.runner()
        runner.recover()
        runner.run(bars)
        return runner

    def messages(self, kind: type | None = None) -> list[Message]:
        return [m for _, m in self.journal().read() if kind is None or isinstance(m, kind)]


def stores_in(folder: Path, **kwargs: object) -> Stores:
    folder.mkdir(parents=True, exist_ok=True)
    return Stores(folder, strategy_config(), **kwargs)  # type: ignore[arg-type]


def run_until(runner: Runner, bars: list[FeedBar], stop: Callable[[Runner], bool]) -> int:
    """Feed bars one at a time until ``stop``; the index of the last bar fed."""
    for i, feed_bar in enumerate(bars):
        runner.run([feed_bar])
        if stop(runner):
            return i
    raise AssertionError("the stop condition never held")


def alerts(stores: Stores, code: str) -> list[AlertRaised]:
    return [m for m in stores.messages(AlertRaised) if m.code == code]  # type: ignore[misc]


# --- a lost acknowledgement -------------------------------------------------------------------


@pytest.fixture(scope="module")
def lost_ack_then_restart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, str]:
    """The first submit's answer is lost; the runner stops at that bar and is restarted."""
    stores = stores_in(tmp_path_factory.mktemp("lost_ack"))
    stores.exchange().set_faults(drop_ack_next=1)
    runner = stores.runner()
    runner.recover()
    run_until(runner, day_bars(), lambda r: r.summary.intents == 1)
    (key,) = runner.state.orders
    stores.run(day_bars(FIRST_ENTRY + 10))
    return stores, key


def test_first_entry_and_flips_match_an_independent_pandas_ema_cross() -> None:
    """The bar numbers this module builds on (FIRST_ENTRY, the flips in its docstring),
    recomputed without the strategy's kernel: pandas EMAs (``ewm(adjust=False)`` from the
    day's first close, the documented convention) and their crosses after the warm-up."""
    params = get_params(get_strategy(STRATEGY).default_params())
    close = nifty(date(2025, 3, 3), date(2025, 3, 3))["close"]
    fast = close.ewm(span=params["fast"], adjust=False).mean()
    slow = close.ewm(span=params["slow"], adjust=False).mean()
    up = (fast.shift() <= slow.shift()) & (fast > slow)
    down = (fast.shift() >= slow.shift()) & (fast < slow)
    crosses = [(t, "long" if up[t] else "short")
               for t in range(params["slow"], 62) if up[t] or down[t]]
    assert crosses == [(FIRST_ENTRY, "short"), (30, "long"), (32, "short"), (61, "long")]


def test_runner_lost_ack_journals_the_submit_as_unknown(
        lost_ack_then_restart: tuple[Stores, str]) -> None:
    stores, key = lost_ack_then_restart
    first = next(m for m in stores.messages(OrderSubmitted) if m.client_key == key)
    assert first.outcome is Outcome.UNKNOWN


def test_runner_lost_ack_is_settled_by_status_query_on_restart(
        lost_ack_then_restart: tuple[Stores, str]) -> None:
    stores, key = lost_ack_then_restart
    submits = [m for m in stores.messages(OrderSubmitted) if m.client_key == key]
    assert [(m.outcome, m.reason.startswith("settled by status query")) for m in submits] == [
        (Outcome.UNKNOWN, False), (Outcome.CONFIRMED, True)]


def test_runner_lost_ack_order_reaches_the_exchange_once_and_fills(
        lost_ack_then_restart: tuple[Stores, str]) -> None:
    stores, key = lost_ack_then_restart
    assert submitted_count(stores.exchange(), key) == 1
    assert replay(stores.journal()).orders[key].status is OrderStatus.FILLED


def test_runner_lost_ack_during_run_is_settled_by_the_fill_and_sent_once(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    stores.exchange().set_faults(drop_ack_next=1)
    runner = stores.run(day_bars(FIRST_ENTRY + 10))
    exchange = stores.exchange()
    assert len(runner.state.orders) >= 3
    assert {submitted_count(exchange, k) for k in runner.state.orders} == {1}
    assert {o.status for o in runner.state.orders.values()} == {OrderStatus.FILLED}


# --- a duplicated fill report -----------------------------------------------------------------


@pytest.fixture(scope="module")
def duplicated_fill(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, Runner]:
    stores = stores_in(tmp_path_factory.mktemp("dup_fill"))
    stores.exchange().set_faults(duplicate_fill_next=True)
    return stores, stores.run(day_bars(FIRST_ENTRY + 3))  # short after bar 23's open


def test_runner_duplicated_fill_report_is_journaled_once(
        duplicated_fill: tuple[Stores, Runner]) -> None:
    stores, _ = duplicated_fill
    reported = [f.trade_id for f in stores.exchange().fills()]
    journaled = [m.trade_id for m in stores.messages(OrderFilled)]  # type: ignore[attr-defined]
    assert reported == ["T00000001", "T00000001"]  # the fault: one execution listed twice
    assert journaled == ["T00000001"]


def test_runner_duplicated_fill_report_leaves_the_position_at_one_lot(
        duplicated_fill: tuple[Stores, Runner]) -> None:
    stores, runner = duplicated_fill
    assert runner.state.positions[(STRATEGY, "NIFTY")].net_qty == -75
    assert [(p.symbol, p.net_qty) for p in stores.exchange().positions()] == [("NIFTY", -75)]


# --- an unavailable broker at restart ---------------------------------------------------------


@pytest.fixture(scope="module")
def unavailable_at_restart(tmp_path_factory: pytest.TempPathFactory
                           ) -> tuple[Stores, pytest.ExceptionInfo[RunnerHalted]]:
    stores = stores_in(tmp_path_factory.mktemp("unavailable"))
    stores.run(day_bars(FIRST_ENTRY + 3))  # a short position is open
    stores.exchange().set_faults(unavailable=True)
    with pytest.raises(RunnerHalted) as halted:
        stores.runner().recover()
    return stores, halted


def test_runner_recover_with_broker_unavailable_halts(
        unavailable_at_restart: tuple[Stores, pytest.ExceptionInfo[RunnerHalted]]) -> None:
    _, halted = unavailable_at_restart
    assert "unavailable" in str(halted.value)


def test_runner_recover_with_broker_unavailable_journals_a_critical_alert(
        unavailable_at_restart: tuple[Stores, pytest.ExceptionInfo[RunnerHalted]]) -> None:
    stores, _ = unavailable_at_restart
    (alert,) = alerts(stores, "reconciliation_failed")
    assert "unavailable" in alert.message


def test_runner_recover_with_broker_unavailable_sends_nothing(
        unavailable_at_restart: tuple[Stores, pytest.ExceptionInfo[RunnerHalted]]) -> None:
    stores, _ = unavailable_at_restart
    kinds = [e.kind for e in stores.exchange().events()]  # the exchange's own record
    assert kinds == ["accepted", "filled"]  # the entry sent before the restart only


# --- feed anomalies ---------------------------------------------------------------------------


def test_runner_ten_bars_missing_mid_session_raises_stale_feed_alert(tmp_path: Path) -> None:
    bars = day_bars(60)
    stores = stores_in(tmp_path)
    stores.run(bars[:30] + bars[40:])
    (alert,) = alerts(stores, "stale_feed")
    assert alert.ts_event == bars[40].ts


def test_runner_four_bars_missing_is_not_a_stale_feed(tmp_path: Path) -> None:
    bars = day_bars(40)
    stores = stores_in(tmp_path)
    stores.run(bars[:30] + bars[34:])
    assert alerts(stores, "stale_feed") == []


def test_runner_new_session_after_overnight_gap_is_not_a_stale_feed(tmp_path: Path) -> None:
    two_days = day_bars(end=date(2025, 3, 4))
    stores = stores_in(tmp_path)
    stores.run(two_days[360:400])  # 15:15 .. 15:29, then 09:15 .. 09:39 the next day
    assert alerts(stores, "stale_feed") == []


@pytest.fixture(scope="module")
def late_bar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, list[Message], str]:
    """Bar 20 is held back and arrives after bar 29 (older than the last)."""
    bars = day_bars(30)
    stores = stores_in(tmp_path_factory.mktemp("late_bar"))
    runner = stores.run(bars[:20] + bars[21:])
    before, state = stores.messages(), trading_state_hash(runner.state)
    runner.run([bars[20]])
    return stores, before, state


def test_runner_bar_older_than_the_last_raises_out_of_order_alert(
        late_bar: tuple[Stores, list[Message], str]) -> None:
    stores, _, _ = late_bar
    assert len(alerts(stores, "out_of_order_bar")) == 1


def test_runner_bar_older_than_the_last_changes_no_bar_and_no_trade(
        late_bar: tuple[Stores, list[Message], str]) -> None:
    stores, before, state = late_bar
    after = [m for m in stores.messages() if not isinstance(m, AlertRaised)]
    assert after == before
    assert trading_state_hash(replay(stores.journal())) == state


# --- kill switches ----------------------------------------------------------------------------


def kill(stores: Stores, mode: KillMode, ts: datetime) -> None:
    stores.journal().append(KillSwitchChanged(trace_id="", ts_event=ts, scope=STRATEGY,
                                              mode=mode, actor="ops", reason="test"))


@pytest.fixture(scope="module")
def halted_run(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    stores = stores_in(tmp_path_factory.mktemp("halt"))
    kill(stores, KillMode.HALT, day_bars(1)[0].ts)
    stores.run(day_bars(70))
    return stores


def test_runner_kill_switch_halt_intends_no_order(halted_run: Stores) -> None:
    assert halted_run.messages(OrderIntended) == []
    assert halted_run.exchange().orders() == []


def test_runner_kill_switch_halt_journals_each_denial(halted_run: Stores) -> None:
    signals = halted_run.messages(SignalRaised)
    decisions = halted_run.messages(GovernanceDecided)
    assert len(signals) >= 3  # flat all along: every crossing is an entry
    assert [(d.allowed, d.reason) for d in decisions] == [  # type: ignore[attr-defined]
        (False, "kill switch: halt")] * len(signals)


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, int]:
    """Short after bar 23; the kill switch goes to reduce; the run goes on to bar 69."""
    bars = day_bars(70)
    stores = stores_in(tmp_path_factory.mktemp("reduce"))
    stores.run(bars[:FIRST_ENTRY + 3])
    kill(stores, KillMode.REDUCE, bars[FIRST_ENTRY + 2].ts)
    seq = stores.journal().head()[0]
    stores.run(bars)
    return stores, seq


def _after(stores: Stores, seq: int, kind: type) -> list:
    return [m for s, m in stores.journal().read(seq + 1) if isinstance(m, kind)]


def test_runner_kill_switch_reduce_lets_the_exit_through(
        reduced_run: tuple[Stores, int]) -> None:
    stores, seq = reduced_run
    intents = _after(stores, seq, OrderIntended)
    assert [(i.side, i.qty) for i in intents] == [(Side.BUY, 75)]  # covers the short
    assert replay(stores.journal()).positions[(STRATEGY, "NIFTY")].net_qty == 0


def test_runner_kill_switch_reduce_denies_every_entry(reduced_run: tuple[Stores, int]) -> None:
    stores, seq = reduced_run
    entries = {s.trace_id for s in _after(stores, seq, SignalRaised)
               if s.side is not SignalSide.FLAT}
    verdicts = {d.trace_id: (d.allowed, d.reason) for d in _after(stores, seq,
                                                                  GovernanceDecided)}
    assert len(entries) >= 3
    assert {verdicts[t] for t in entries} == {(False, "kill switch: reduce")}


def test_runner_flatten_kill_on_a_bar_the_strategy_also_exits_sends_one_exit(
        tmp_path: Path) -> None:
    bars = day_bars(FIRST_ENTRY + 10)
    stores = stores_in(tmp_path)
    desk: list[KillCommand] = []
    runner = stores.runner(kill_commands=lambda after: [c for c in desk if c.id > after])
    runner.recover()
    runner.run(bars[:30])  # short since bar 23
    desk.append(KillCommand(1, STRATEGY, "flatten", "ops", "test", "2025-03-03T09:45:00"))
    runner.run(bars[30:32])  # bar 30 is also the strategy's exit (a flip to long)
    flip_bar = [(m.side, m.qty) for m in stores.messages(OrderIntended)
                if m.ts_event == bars[30].ts]  # type: ignore[attr-defined]
    assert flip_bar == [(Side.BUY, 75)]


# --- restart ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """Day 1 (from 14:00, to keep it fast) run to its end; a new runner on the same stores is
    fed day 1 again and then day 2 (to 10:14)."""
    two_days = day_bars(end=date(2025, 3, 4))
    day1, day2 = two_days[DAY1_FROM:375], two_days[375:375 + 60]
    stores = stores_in(tmp_path_factory.mktemp("resume"))
    stores.run(day1)
    stores.run(day1 + day2)
    return stores


def test_runner_restart_journals_no_bar_twice(resumed: Stores) -> None:
    stamps = Counter((b.symbol, b.ts_event) for b in resumed.messages(BarClosed))
    assert len(stamps) == 375 - DAY1_FROM + 60 and set(stamps.values()) == {1}


def test_runner_restart_sends_no_order_twice(resumed: Stores) -> None:
    exchange = resumed.exchange()
    keys = [m.client_key for m in resumed.messages(OrderIntended)]  # type: ignore[attr-defined]
    assert len(keys) == len(set(keys)) > 0
    assert {submitted_count(exchange, k) for k in keys} == {1}


def test_runner_restart_trades_the_second_day(resumed: Stores) -> None:
    days = {pd.Timestamp(m.ts_event).date() for m in resumed.messages(OrderFilled)}
    assert days == {date(2025, 3, 3), date(2025, 3, 4)}


class ProcessKilled(BaseException):
    """Stands for a SIGKILL: nothing in the runner catches it, nothing cleans up."""


class DiesBeforeSecondEntry(PassThroughRisk):
    """A risk engine whose process dies when asked about the second entry (the entry leg of
    the first flip, after its exit leg was sent)."""

    def __init__(self) -> None:
        self.entries = 0

    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision:
        if not proposal.reduces_exposure:
            self.entries += 1
            if self.entries == 2:
                raise ProcessKilled
        return PassThroughRisk().check(proposal, state)


def test_runner_restart_between_the_legs_of_a_flip_still_sends_the_entry(
        tmp_path: Path) -> None:
    bars = day_bars(FIRST_ENTRY + 10)  # the flip is decided at bar 30
    clean = stores_in(tmp_path / "clean", fill="close").run(bars)
    crashed = stores_in(tmp_path / "crashed", fill="close")
    with pytest.raises(ProcessKilled):
        dying = crashed.runner(risk=DiesBeforeSecondEntry())
        dying.recover()
        dying.run(bars)
    restarted = crashed.run(bars)
    assert trading_state_hash(restarted.state) == trading_state_hash(clean.state)


def test_runner_restart_gives_the_risk_engine_back_its_memory_of_sent_orders(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    stores.run(day_bars(FIRST_ENTRY + 1))  # ends on the bar whose close sent the first entry
    (intent,) = stores.messages(OrderIntended)
    bar = stores.messages(BarClosed)[-1]
    again = OrderProposal(  # the same order one second later: inside the 2 s window
        strategy=intent.strategy, symbol=intent.symbol,  # type: ignore[attr-defined]
        side=1 if intent.side is Side.BUY else -1, qty=intent.qty,  # type: ignore[attr-defined]
        reference_price=bar.close, reduces_exposure=False,  # type: ignore[attr-defined]
        ts=intent.ts_event + timedelta(seconds=1), reference_ts=intent.ts_event, lot_size=75)
    limits = load_risk_limits(Path(__file__).resolve().parents[2] / "risk.yaml")
    plain = stores.runner()
    plain.recover()
    assert PreTradeRiskEngine(limits).check(again, plain.state).passed  # no memory: passes
    engine = PreTradeRiskEngine(limits)
    restarted = stores.runner(risk=engine)
    restarted.recover()
    assert engine.check(again, restarted.state).check == "duplicate_order"


def test_runner_missing_bar_before_cutoff_still_ends_the_session_flat(tmp_path: Path) -> None:
    # range breakout on 2025-03-04: the 15-bar opening range, the breakout short filled at
    # 12:15, then the last minutes before the cutoff (skipped spans keep it fast; the range
    # and the position do not change in them) - all without the 14:59 bar
    bars = day_bars(start=date(2025, 3, 4))
    stores = Stores(tmp_path, strategy_config("range_breakout"))
    runner = stores.run(bars[:15] + bars[175:185] + bars[335:BEFORE_CUTOFF]
                        + bars[BEFORE_CUTOFF + 1:])
    fills = [str(m.ts_event.time()) for m in stores.messages(OrderFilled)]
    assert fills == ["12:15:00", "15:01:00"]  # flattened at the first bar after the cutoff
    assert runner.state.positions[("range_breakout", "NIFTY")].net_qty == 0


# --- protective exits -------------------------------------------------------------------------


def protected_stores(folder: Path, **levels: float) -> Stores:
    folder.mkdir(parents=True, exist_ok=True)
    config = strategy_config()
    config["sim"] = {**config["sim"], **levels}
    return Stores(folder, config)


class NoOcoBroker:
    """Stands for a broker without one-cancels-other orders (Kite)."""

    name = "no-oco"
    supports_oco = False


def test_runner_refuses_stop_and_target_on_a_broker_without_oco(tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=12.0, target_points=30.0)
    deployed = build(VersionConfig.from_json(stores.config), 1, "live", 1.0, "0" * 64)
    with pytest.raises(UnsupportedVersionError, match="one-cancels-other"):
        Runner(journal=stores.journal(), broker=NoOcoBroker(), deployed=[deployed],
               mode="live", clock=record_clock, risk=PassThroughRisk())


class RefusesStops(PassThroughRisk):
    """A risk engine that denies every stop order."""

    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision:
        if proposal.order_type == "SL-M":
            return RiskDecision(False, "test", "stops refused")
        return super().check(proposal, state)


def test_runner_flattens_a_position_whose_stop_is_refused(tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=12.0)
    runner = stores.runner(risk=RefusesStops())
    runner.recover()
    runner.run(day_bars(FIRST_ENTRY + 4))
    unprotected = alerts(stores, "unprotected_position")
    kills = [m for m in stores.messages(KillSwitchChanged) if m.mode is KillMode.FLATTEN]
    assert unprotected and kills and kills[0].scope == STRATEGY
    assert runner.state.positions[(STRATEGY, "NIFTY")].net_qty == 0


def test_runner_places_the_stop_right_after_the_entry_fill_on_the_same_bar(
        tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=12.0)
    stores.run(day_bars(FIRST_ENTRY + 2))
    entry_fill = stores.messages(OrderFilled)[0]
    (stop,) = [m for m in stores.messages(OrderIntended) if m.after_trade]  # type: ignore[attr-defined]
    assert stop.after_trade == entry_fill.trade_id  # type: ignore[attr-defined]
    assert stop.ts_event == entry_fill.ts_event and str(stop.order_type) == "SL-M"  # type: ignore[attr-defined]
    assert stop.trigger_price == pytest.approx(entry_fill.price + 12.0)  # type: ignore[attr-defined]


def _working_protective(runner: Runner) -> list[str]:
    return [str(o.order_type) for o in runner.state.orders.values()
            if o.protective and o.status in (OrderStatus.OPEN, OrderStatus.INTENDED,
                                             OrderStatus.UNKNOWN)]


def test_runner_lost_ack_of_a_stop_is_settled_while_running(tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=40.0)
    runner = stores.runner()
    runner.recover()
    bars = day_bars()
    runner.run(bars[:FIRST_ENTRY + 1])  # the entry is sent at this bar's close
    stores.exchange().set_faults(drop_ack_next=1)  # the next submit: the protective stop
    runner.run(bars[FIRST_ENTRY + 1:FIRST_ENTRY + 3])
    (stop,) = [o for o in runner.state.orders.values() if o.protective]
    assert stop.status is OrderStatus.OPEN  # asked, not resent
    assert submitted_count(stores.exchange(), stop.client_key) == 1


class RejectsMarketOrdersAt:
    """Wraps a paper exchange: market orders submitted while ``at`` is the last bar are
    rejected (an RMS refusal)."""

    def __init__(self, exchange: PaperExchange, at: datetime) -> None:
        self.exchange, self.at, self.now = exchange, at, None
        self.name, self.supports_oco = exchange.name, exchange.supports_oco

    def on_bar(self, symbol: str, ts: datetime, *prices: float) -> object:
        self.now = ts
        return self.exchange.on_bar(symbol, ts, *prices)

    def submit(self, request: object) -> object:
        if str(request.order_type) == "MARKET" and self.now == self.at:  # type: ignore[attr-defined]
            return SubmitResult(Outcome.REJECTED, None, "RMS: margin exceeds (test)")
        return self.exchange.submit(request)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.exchange, name)


def test_runner_re_protects_a_position_whose_exit_was_rejected(tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=40.0)
    bars = day_bars(60)
    broker = RejectsMarketOrdersAt(stores.exchange(), bars[30].ts)  # the flip's exit
    runner = stores.runner(broker=broker)
    runner.recover()
    runner.run(bars[:31])
    assert runner.net(STRATEGY, "NIFTY") != 0  # the exit was refused: still in position
    assert _working_protective(runner) == ["SL-M"]  # and protected again


def test_runner_retries_a_rejected_exit_at_the_next_close_with_a_fresh_key(
        tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=40.0)
    bars = day_bars(60)
    broker = RejectsMarketOrdersAt(stores.exchange(), bars[30].ts)  # the flip's exit
    runner = stores.runner(broker=broker)
    runner.recover()
    runner.run(bars[:32])
    (rejected,) = [m for m in stores.messages(OrderSubmitted) if m.outcome is Outcome.REJECTED]
    assert "RMS: margin exceeds" in rejected.reason  # the exit's; no flip entry behind it
    (alert,) = alerts(stores, "exit_rejected")
    assert "RMS: margin exceeds" in alert.message and alert.severity == "critical"
    retried = [m for m in _intents_at(stores, bars[31].ts) if not m.protective]
    assert [m.qty for m in retried] == [abs(runner.net(STRATEGY, "NIFTY"))]
    assert retried[0].client_key != rejected.client_key
    assert runner.state.orders[retried[0].client_key].status is OrderStatus.OPEN


def _two_symbols(tmp_path: Path, **levels: float) -> tuple[Stores, list[FeedBar]]:
    stores = protected_stores(tmp_path, **levels)
    stores.config["symbols"] = ["NIFTY", "BANKNIFTY"]
    frame = replay_frame(DATASET, ["NIFTY", "BANKNIFTY"], date(2025, 3, 3), date(2025, 3, 3))
    return stores, list(replay_bars(frame))


def _kill_when(stores: Stores, bars: list[FeedBar], ready: Callable[[Runner], bool],
               mode: str) -> Runner:
    """Run until ``ready``, then the desk pulls the strategy's switch (``mode``) on the next
    bar; six more bars."""
    desk: list[KillCommand] = []
    runner = stores.runner(kill_commands=lambda after: [c for c in desk if c.id > after])
    runner.recover()
    i = run_until(runner, bars, ready) + 1
    desk.append(KillCommand(1, STRATEGY, mode, "ops", "test", str(bars[i].ts)))
    runner.run(bars[i:i + 6])
    return runner


def test_runner_flatten_kill_flattens_every_symbol_on_its_own_bar(tmp_path: Path) -> None:
    stores, bars = _two_symbols(tmp_path, stop_points=60.0)
    runner = _kill_when(stores, bars, lambda r: sum(
        1 for p in r.state.positions.values() if p.net_qty) == 2, "flatten")
    assert {k[1]: p.net_qty for k, p in runner.state.positions.items()} == {
        "NIFTY": 0, "BANKNIFTY": 0}
    assert _working_protective(runner) == []


def test_runner_halt_cancels_an_entry_sent_but_not_yet_filled(tmp_path: Path) -> None:
    stores, bars = _two_symbols(tmp_path, stop_points=12.0)
    pending: list[str] = []

    def entry_pending(r: Runner) -> bool:
        pending[:] = [o.client_key for o in r.state.working.values()
                      if o.status is OrderStatus.OPEN]
        return bool(pending)

    runner = _kill_when(stores, bars, entry_pending, "halt")
    (entry,) = pending
    assert runner.state.orders[entry].status is OrderStatus.CANCELLED
    assert not runner.state.trade_ids  # nothing filled


def test_runner_sizes_the_stop_to_a_partially_filled_entry(tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=40.0)
    exchange = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05,
                                                  partial_fill_ratio=0.5))
    runner = stores.runner(broker=exchange)
    runner.recover()
    bars = day_bars(FIRST_ENTRY + 4)
    for bar in bars:
        runner.run([bar])
        net = runner.net(STRATEGY, "NIFTY")
        stops = [o.qty - o.filled_qty for o in runner.state.orders.values()
                 if o.protective and o.status is OrderStatus.OPEN]
        assert stops == ([abs(net)] if net else [])


# --- kill commands between bars -------------------------------------------------------------


def _desk_runner(stores: Stores, risk: RiskEngine | None = None
                 ) -> tuple[Runner, list[KillCommand]]:
    """A runner polling a desk's command list (append to pull a switch)."""
    desk: list[KillCommand] = []
    runner = stores.runner(risk, kill_commands=lambda after: [c for c in desk if c.id > after])
    runner.recover()
    return runner, desk


def _pull(desk: list[KillCommand], mode: str, scope: str = STRATEGY) -> None:
    desk.append(KillCommand(len(desk) + 1, scope, mode, "ops", "test", "2026-01-01T00:00:00"))


SHORT = FIRST_ENTRY + 3  # bars fed before the kill: short since bar 23's open
WAITING = Idle(day_bars(SHORT)[-1].ts + timedelta(seconds=20))  # 20 s after the last bar


def _intents_at(stores: Stores, ts: datetime) -> list[OrderIntended]:
    return [m for m in stores.messages(OrderIntended) if m.ts_event == ts]  # type: ignore[misc]


def test_runner_flatten_kill_between_bars_sends_the_exit_before_the_next_bar(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner, desk = _desk_runner(stores)
    runner.run(day_bars(SHORT))
    _pull(desk, "flatten")
    runner.run([WAITING])
    (exit_,) = _intents_at(stores, WAITING.ts)
    assert (exit_.side, exit_.qty) == (Side.BUY, 75)
    assert submitted_count(stores.exchange(), exit_.client_key) == 1


def test_runner_kill_between_bars_is_journaled_at_the_feeds_market_time(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner, desk = _desk_runner(stores)
    runner.run(day_bars(SHORT))
    _pull(desk, "halt")
    runner.run([WAITING])
    assert [(k.ts_event, k.mode, k.reason) for k in stores.messages(KillSwitchChanged)] == [
        (WAITING.ts, KillMode.HALT, "K1: test")]  # type: ignore[attr-defined]


def test_runner_flatten_kill_between_bars_passes_the_pretrade_checks(tmp_path: Path) -> None:
    limits = load_risk_limits(Path(__file__).resolve().parents[2] / "risk.yaml")
    stores = stores_in(tmp_path)
    runner, desk = _desk_runner(stores, PreTradeRiskEngine(limits))
    runner.run(day_bars(SHORT))
    _pull(desk, "flatten")
    runner.run([WAITING])
    (exit_,) = _intents_at(stores, WAITING.ts)  # priced off the last close, 20 s old
    (verdict,) = [m for m in stores.messages(RiskChecked) if m.trace_id == exit_.trace_id]
    assert verdict.passed  # type: ignore[attr-defined]


def test_runner_flatten_kill_between_bars_is_not_sent_again_at_the_next_bar(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner, desk = _desk_runner(stores)
    bars = day_bars(SHORT + 5)
    runner.run(bars[:SHORT])
    _pull(desk, "flatten")
    runner.run([WAITING, *bars[SHORT:]])
    exits = [m for m in stores.messages(OrderIntended) if m.ts_event >= WAITING.ts]
    assert len(exits) == 1 and runner.net(STRATEGY, "NIFTY") == 0


def test_runner_flatten_kill_between_bars_exits_every_symbol_at_once(tmp_path: Path) -> None:
    stores, bars = _two_symbols(tmp_path, stop_points=60.0)
    runner, desk = _desk_runner(stores)
    i = run_until(runner, bars, lambda r: sum(
        1 for p in r.state.positions.values() if p.net_qty) == 2)
    waiting = Idle(bars[i].ts + timedelta(seconds=5))
    _pull(desk, "flatten")
    runner.run([waiting])
    assert sorted(m.symbol for m in _intents_at(stores, waiting.ts)
                  if not m.protective) == ["BANKNIFTY", "NIFTY"]


def test_runner_halt_kill_between_bars_cancels_a_working_entry_at_once(
        tmp_path: Path) -> None:
    stores, bars = _two_symbols(tmp_path, stop_points=12.0)
    runner, desk = _desk_runner(stores)
    i = run_until(runner, bars, lambda r: any(
        o.status is OrderStatus.OPEN for o in r.state.working.values()))
    (entry,) = [o.client_key for o in runner.state.working.values()]
    waiting = Idle(bars[i].ts + timedelta(seconds=5))
    _pull(desk, "halt")
    runner.run([waiting])
    (cancel,) = [m for m in stores.messages(OrderCancelled) if m.client_key == entry]
    assert cancel.ts_event == waiting.ts  # type: ignore[attr-defined]


def test_runner_halt_kill_between_bars_leaves_the_protective_stop_working(
        tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=40.0)
    runner, desk = _desk_runner(stores)
    runner.run(day_bars(SHORT))
    _pull(desk, "halt")
    runner.run([WAITING])
    assert _working_protective(runner) == ["SL-M"]


def test_runner_idle_marker_older_than_the_last_bar_is_ignored(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner, desk = _desk_runner(stores)
    bars = day_bars(SHORT)
    runner.run(bars)
    _pull(desk, "halt")
    runner.run([Idle(bars[0].ts)])  # a replay resuming after a restart: the past
    assert stores.messages(KillSwitchChanged) == []


class FakeTime:
    """A monotonic clock that advances only when slept on; ``on_sleep`` runs at each."""

    def __init__(self, on_sleep: Callable[[], None]) -> None:
        self.now, self.on_sleep = 0.0, on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.on_sleep()
        self.now += seconds


def test_runner_paced_feed_applies_a_flatten_kill_within_one_slice(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner, desk = _desk_runner(stores)
    bars = day_bars(SHORT + 1)

    def desk_pulls_after_the_last_short_bar() -> None:
        if runner.summary.bars == SHORT and not desk:
            _pull(desk, "flatten")

    clock = FakeTime(desk_pulls_after_the_last_short_bar)
    speed = 60.0  # one-minute bars a second apart; slices of 0.2 s are 12 market seconds
    runner.run(paced(bars, speed=speed, sleep=clock.sleep, monotonic=clock.monotonic))
    (kill,) = stores.messages(KillSwitchChanged)
    (exit_,) = _intents_at(stores, kill.ts_event)
    assert timedelta(0) < exit_.ts_event - bars[SHORT - 1].ts <= timedelta(
        seconds=IDLE_SLICE_SECONDS * speed)


def test_runner_kill_pulled_before_any_bar_is_applied_at_the_first_bar(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner, desk = _desk_runner(stores)
    first = day_bars(1)[0]
    _pull(desk, "halt")
    runner.run([Idle(first.ts - timedelta(seconds=30)), first])  # nothing to price before it
    assert [k.ts_event for k in stores.messages(KillSwitchChanged)] == [first.ts]
# --- prices the runner must not trust: spikes, insane fills, bad bars -------------------------

SPIKE = FIRST_ENTRY + 3  # short since bar 23; a 50 % spike here flips the signals to long


def spiked(bars: list[FeedBar], i: int, factor: float = 1.5) -> list[FeedBar]:
    """``bars`` with bar ``i`` closing (and its high) ``factor`` x its close."""
    out = list(bars)
    out[i] = replace(out[i], high=out[i].close * factor, close=out[i].close * factor)
    return out


def repo_limits() -> RiskLimits:
    return load_risk_limits(Path(__file__).resolve().parents[2] / "risk.yaml")


@pytest.fixture(scope="module")
def spike_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, FeedBar]:
    """The real pre-trade engine; bar SPIKE closes 50 % above the bar before it."""
    bars = spiked(day_bars(SPIKE + 3), SPIKE)
    stores = stores_in(tmp_path_factory.mktemp("spike"))
    runner = stores.runner(risk=PreTradeRiskEngine(repo_limits()))
    runner.recover()
    runner.run(bars)
    return stores, bars[SPIKE]


def _at(stores: Stores, kind: type, ts: datetime) -> list:
    return [m for m in stores.messages(kind) if m.ts_event == ts]


def test_runner_spike_bar_entry_is_denied_by_the_price_collar(
        spike_run: tuple[Stores, FeedBar]) -> None:
    stores, spike = spike_run
    entries = {s.trace_id for s in _at(stores, SignalRaised, spike.ts)
               if s.side is not SignalSide.FLAT}
    (denial,) = [r for r in _at(stores, RiskChecked, spike.ts) if r.trace_id in entries]
    assert (denial.passed, denial.check) == (False, "price_collar")
    before = day_bars(SPIKE)[-1].close  # the previous trade: the bar before the spike
    moved_pct = abs(spike.close - before) / before * 100.0  # about 50 % (the spike)
    assert f"{moved_pct:.4g}% from the previous trade {before:g}" in denial.reason
    assert not [i for i in _at(stores, OrderIntended, spike.ts) if i.trace_id in entries]


def test_runner_spike_bar_exit_is_sent_with_a_price_breach_alert(
        spike_run: tuple[Stores, FeedBar]) -> None:
    stores, spike = spike_run
    (exit_,) = _at(stores, OrderIntended, spike.ts)  # the short's exit, the flip's first leg
    assert (exit_.side, exit_.qty) == (Side.BUY, 75)
    (alert,) = [a for a in alerts(stores, "exit_price_breach") if a.ts_event == spike.ts]
    assert "price_collar" in alert.message


def test_runner_fill_far_from_the_order_reference_raises_insane_fill(tmp_path: Path) -> None:
    bars = day_bars(FIRST_ENTRY + 3)
    fill_bar = bars[FIRST_ENTRY + 1]  # the short entry decided at bar 22 fills at its open
    wild = bars[FIRST_ENTRY].close * 1.5
    bars[FIRST_ENTRY + 1] = replace(fill_bar, open=wild, high=wild)
    stores = stores_in(tmp_path)
    stores.run(bars)
    (alert,) = alerts(stores, "insane_fill")
    assert alert.severity == "critical" and alert.ts_event == fill_bar.ts
    assert f"from its order's reference {bars[FIRST_ENTRY].close:g}" in alert.message


def test_runner_fill_near_the_order_reference_raises_no_insane_fill(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    stores.run(day_bars(FIRST_ENTRY + 10))
    assert stores.messages(OrderFilled) and alerts(stores, "insane_fill") == []


@pytest.fixture(scope="module")
def nan_bar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, list[FeedBar], Runner]:
    """A short with its stop working since bar 23; bar 26 closes NaN; then a restart over
    the same journal and exchange is fed the same bars."""
    stores = protected_stores(tmp_path_factory.mktemp("nan_bar"), stop_points=40.0)
    bars = day_bars(FIRST_ENTRY + 8)
    bars[FIRST_ENTRY + 4] = replace(bars[FIRST_ENTRY + 4], close=float("nan"))
    stores.run(bars)
    return stores, bars, stores.run(bars)


def test_runner_nan_bar_is_refused_with_an_alert(
        nan_bar: tuple[Stores, list[FeedBar], Runner]) -> None:
    stores, bars, _ = nan_bar
    (alert,) = alerts(stores, "bad_bar")  # once: the restart does not raise it again
    assert alert.ts_event == bars[FIRST_ENTRY + 4].ts
    assert "'close': nan" in alert.message and "close nan" in alert.message


def test_runner_nan_bar_is_never_journaled_as_a_bar(
        nan_bar: tuple[Stores, list[FeedBar], Runner]) -> None:
    stores, bars, _ = nan_bar
    stamps = [b.ts_event for b in stores.messages(BarClosed)]
    assert stamps == [b.ts for i, b in enumerate(bars) if i != FIRST_ENTRY + 4]


def test_runner_nan_bar_leaves_the_protective_stop_working(
        nan_bar: tuple[Stores, list[FeedBar], Runner]) -> None:
    _, _, restarted = nan_bar
    assert restarted.net(STRATEGY, "NIFTY") == -75
    assert _working_protective(restarted) == ["SL-M"]


def test_runner_restart_after_a_nan_bar_trades_on(
        nan_bar: tuple[Stores, list[FeedBar], Runner]) -> None:
    stores, bars, restarted = nan_bar
    assert restarted.state.last_bars["NIFTY"].ts_event == bars[-1].ts
    assert replay(stores.journal()).discrepancies == []


@pytest.mark.parametrize(("change", "problem"), [
    ({"low": -1.0}, "not finite and positive"),
    ({"open": 0.0}, "not finite and positive"),
    ({"high": 1.0}, "high 1 < low"),
    ({"ts": datetime(2025, 3, 3, 2, 0, tzinfo=UTC)}, "outside every NSE session"),
    ({"ts": datetime(2025, 3, 3, 10, 0)}, "naive"),
])
def test_runner_bad_bar_is_refused_with_an_alert_and_not_journaled(
        tmp_path: Path, change: dict, problem: str) -> None:
    bars = day_bars(5)
    bad = replace(bars[2], **change)
    stores = stores_in(tmp_path)
    stores.run([*bars[:2], bad, *bars[3:]])
    (alert,) = alerts(stores, "bad_bar")
    assert problem in alert.message
    assert [b.ts_event for b in stores.messages(BarClosed)] == [
        b.ts for i, b in enumerate(bars) if i != 2]


def test_runner_second_bar_at_the_same_time_raises_duplicate_bar_alert(
        tmp_path: Path) -> None:
    bars = day_bars(6)
    stores = stores_in(tmp_path)
    stores.run([*bars[:4], replace(bars[3], close=bars[3].close + 1.0), *bars[4:]])
    (alert,) = alerts(stores, "duplicate_bar")
    assert alert.ts_event == bars[3].ts
    assert len(stores.messages(BarClosed)) == 6


def test_runner_restart_re_processing_its_last_bar_is_no_duplicate(tmp_path: Path) -> None:
    bars = day_bars(6)
    stores = stores_in(tmp_path)
    stores.run(bars[:4])
    stores.run(bars)  # resumes at bar 3, the journal's last
    assert alerts(stores, "duplicate_bar") == []


def test_runner_empty_feed_raises_an_alert(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    stores.run([])
    (alert,) = alerts(stores, "empty_feed")
    assert alert.severity == "warning"


# --- exits are never stuck: halts, refusals, a position carried overnight ---------------------


def test_runner_kill_switch_halt_lets_the_cutoff_exit_through(tmp_path: Path) -> None:
    bars = day_bars(start=date(2025, 3, 4))  # range breakout: short from 12:15
    stores = Stores(tmp_path, strategy_config("range_breakout"))
    stores.run(bars[:15] + bars[175:185])
    stores.journal().append(KillSwitchChanged(  # the volatility halt's kind: the whole desk
        trace_id="", ts_event=bars[184].ts, scope="all", mode=KillMode.HALT,
        actor="risk_engine", reason="NIFTY moved -2.00% in one bar: volatility halt"))
    runner = stores.run(bars[:15] + bars[175:185] + bars[335:])
    cutoff = _at(stores, GovernanceDecided, bars[BEFORE_CUTOFF].ts)
    assert [(d.allowed, "halt" in d.reason) for d in cutoff] == [(True, True)]
    assert runner.state.positions[("range_breakout", "NIFTY")].net_qty == 0


class RejectsMarketOrdersBetween(RejectsMarketOrdersAt):
    """Market orders submitted while the last bar is in [at, until) are rejected."""

    def __init__(self, exchange: PaperExchange, at: datetime, until: datetime) -> None:
        super().__init__(exchange, at)
        self.until = until

    def submit(self, request: object) -> object:
        if str(request.order_type) == "MARKET" and self.now is not None and \
                self.at <= self.now < self.until:  # type: ignore[attr-defined]
            return SubmitResult(Outcome.REJECTED, None, "RMS: margin exceeds (test)")
        return self.exchange.submit(request)  # type: ignore[arg-type]


def test_runner_cutoff_exit_rejected_alerts_and_is_retried_at_the_next_bar(
        tmp_path: Path) -> None:
    bars = day_bars(start=date(2025, 3, 4))
    stores = Stores(tmp_path, strategy_config("range_breakout"))
    broker = RejectsMarketOrdersAt(stores.exchange(), bars[BEFORE_CUTOFF].ts)
    runner = stores.runner(broker=broker)
    runner.recover()
    runner.run(bars[:15] + bars[175:185] + bars[335:BEFORE_CUTOFF + 3])
    (overdue,) = alerts(stores, "exit_overdue")
    assert overdue.ts_event == bars[BEFORE_CUTOFF].ts and overdue.severity == "critical"
    fills = [str(m.ts_event.time()) for m in stores.messages(OrderFilled)]
    assert fills == ["12:15:00", "15:01:00"]  # retried at 15:00's close


def test_runner_position_carried_into_a_session_is_exited_at_its_first_close(
        tmp_path: Path) -> None:
    bars = day_bars(start=date(2025, 3, 4), end=date(2025, 3, 5))
    stores = Stores(tmp_path, strategy_config("range_breakout"))
    next_day = bars[375]
    broker = RejectsMarketOrdersBetween(stores.exchange(), bars[BEFORE_CUTOFF].ts,
                                        next_day.ts)
    runner = stores.runner(broker=broker)
    runner.recover()
    runner.run(bars[:15] + bars[175:185] + bars[335:375 + 3])
    (carried,) = alerts(stores, "position_carried")
    assert carried.ts_event == next_day.ts and carried.severity == "critical"
    assert len(alerts(stores, "exit_overdue")) == 375 - BEFORE_CUTOFF
    assert str(stores.messages(OrderFilled)[-1].ts_event) == "2025-03-05 09:16:00+05:30"
    assert runner.state.positions[("range_breakout", "NIFTY")].net_qty == 0
