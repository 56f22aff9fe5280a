"""Protective exits in the live runner under faults: lost answers, fills found at startup,
brokers that fill at once, a crash between withdrawing the protection and the exit, and a
partly filled exit (regressions from review; the happy path is in the parity tests)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderReport, OrderRequest, OrderType, Outcome, Side, SubmitResult
from live.db import make_engine
from live.events import (
    KillSwitchChanged,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    TradingMode,
    client_key,
    new_trace_id,
)
from live.runner.deployments import Deployed, build
from live.runner.feed import FeedBar
from live.runner.history import SymbolHistory
from live.runner.protection import PlaceProtective, Protection, Withdraw
from live.runner.runner import Runner
from live.state import fold, trading_state_hash
from strategies.venues import get_venue
from strategies.version_config import VersionConfig
from tests.unit.test_runner_engine import (
    FIRST_ENTRY,
    STRATEGY,
    ProcessKilled,
    Stores,
    day_bars,
    protected_stores,
    strategy_config,
)


def runner_over(stores: Stores, broker: object | None = None, *,
                crash: Callable[[str], None] | None = None,
                market: Callable[[FeedBar], object] | None = None) -> Runner:
    """A recovered runner over ``stores`` through ``broker`` (default: the paper exchange)."""
    runner = stores.runner(broker=broker, crash_hook=crash)
    if market is not None:
        runner.market = market
    runner.recover()
    return runner


class LaggingBroker:
    """The paper exchange behind a slow order book: the first stop's submit times out
    (accepted, answer lost) and a status query right after does not find it yet."""

    def __init__(self, exchange: PaperExchange) -> None:
        self.exchange, self.name, self.supports_oco = exchange, exchange.name, True
        self.submits: Counter[str] = Counter()
        self.lagging: set[str] = set()

    def submit(self, request: OrderRequest) -> SubmitResult:
        self.submits[request.client_key] += 1
        result = self.exchange.submit(request)
        if str(request.order_type) == "SL-M" and not self.lagging and \
                self.submits[request.client_key] == 1:
            self.lagging.add(request.client_key)
            return SubmitResult(Outcome.UNKNOWN, None, "timeout (test)")
        return result

    def status(self, *, broker_order_id: str | None = None,
               client_key: str | None = None) -> OrderReport | None:
        if client_key in self.lagging:
            self.lagging.discard(client_key)
            return None  # not in the book yet
        return self.exchange.status(broker_order_id=broker_order_id, client_key=client_key)

    def __getattr__(self, name: str) -> object:
        return getattr(self.exchange, name)


def test_an_order_whose_answer_was_lost_is_never_sent_again(tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=40.0)
    broker = LaggingBroker(stores.exchange())
    runner_over(stores, broker).run(day_bars(80))
    assert broker.submits and max(broker.submits.values()) == 1


def test_an_entry_fill_found_by_the_startup_reconciliation_is_protected(
        tmp_path: Path) -> None:
    bars = day_bars(40)
    clean = protected_stores(tmp_path / "clean", stop_points=40.0)
    uninterrupted = runner_over(clean)
    uninterrupted.run(bars)
    stores = protected_stores(tmp_path / "crashed", stop_points=40.0)
    exchange = stores.exchange()

    def dies_after_matching(b: FeedBar) -> None:  # the entry fills, nobody polls it
        exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low, b.close)
        if b.ts == bars[FIRST_ENTRY + 1].ts:
            raise ProcessKilled

    dying = runner_over(stores, exchange, market=dies_after_matching)
    with contextlib.suppress(ProcessKilled):
        dying.run(bars)
    restarted = runner_over(stores)
    restarted.run(bars[FIRST_ENTRY + 1:])
    assert not stores.messages(KillSwitchChanged)
    assert trading_state_hash(restarted.state) == trading_state_hash(uninterrupted.state)


def test_a_broker_filling_at_once_gets_the_stop_before_the_next_bar(tmp_path: Path) -> None:
    stores = protected_stores(tmp_path, stop_points=12.0)
    stores.fill = "close"
    runner = stores.runner()
    runner.recover()
    runner.run(day_bars(FIRST_ENTRY + 1))  # the entry is sent and filled at this close
    assert runner.net(STRATEGY, "NIFTY") != 0
    assert [str(o.order_type) for o in runner.state.working.values() if o.protective] == [
        "SL-M"]


class CrashAfterWithdraw:
    """A crash hook: dies before the next intent once a cancel was sent, between
    withdrawing the protection for an exit and journaling the exit."""

    def __init__(self) -> None:
        self.armed = False

    def __call__(self, point: str) -> None:
        if point == "before_intent" and self.armed:
            raise ProcessKilled


class ArmsOnCancel:
    def __init__(self, exchange: PaperExchange, crash: CrashAfterWithdraw) -> None:
        self.exchange, self.crash = exchange, crash
        self.name, self.supports_oco = exchange.name, True

    def cancel(self, broker_order_id: str) -> SubmitResult:
        self.crash.armed = True
        return self.exchange.cancel(broker_order_id)

    def __getattr__(self, name: str) -> object:
        return getattr(self.exchange, name)


def test_a_crash_between_withdrawing_the_protection_and_the_exit_changes_nothing(
        tmp_path: Path) -> None:
    levels = {"stop_points": 40.0, "target_points": 80.0}
    bars = day_bars(60)
    clean = protected_stores(tmp_path / "clean", **levels)
    uninterrupted = runner_over(clean)
    uninterrupted.run(bars)
    stores = protected_stores(tmp_path / "crashed", **levels)
    crash = CrashAfterWithdraw()
    dying = runner_over(stores, ArmsOnCancel(stores.exchange(), crash), crash=crash)
    done = 0
    try:
        for i, bar in enumerate(bars):
            dying.run([bar])
            done = i + 1
    except ProcessKilled:
        pass
    assert done < len(bars)  # it did die
    restarted = runner_over(stores)
    restarted.run(bars[done:])
    assert trading_state_hash(restarted.state) == trading_state_hash(uninterrupted.state)


def test_a_partly_filled_exit_is_not_protected_twice(tmp_path: Path) -> None:
    # two lots, every order filling half first: exits and stops fill in parts; at no bar may
    # the stop and the working exit together close more than the position holds
    stores = protected_stores(tmp_path, stop_points=40.0, qty_lots=2)
    exchange = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05,
                                                  partial_fill_ratio=0.5))
    runner = runner_over(stores, exchange)
    partial_exits = 0
    for bar in day_bars():
        runner.run([bar])
        net = runner.net(STRATEGY, "NIFTY")
        side = Side.SELL if net > 0 else Side.BUY
        exiting = runner.working_qty(STRATEGY, "NIFTY", side, exits_only=True)
        protecting = sum(o.qty - o.filled_qty for o in runner.state.working.values()
                         if o.protective and o.side is side)
        partial_exits += any(o.filled_qty and not o.protective and o.side is side and
                             o.trace_id not in runner.entry_traces
                             for o in runner.state.working.values())
        if net:  # (a flip filling in parts can pass through flat with both legs working)
            assert exiting + protecting <= abs(net), (bar.ts, net, exiting, protecting)
    assert partial_exits  # the day had an exit working for part of the position


def _entered(stop_points: float) -> tuple[Protection, Deployed, FeedBar]:
    """A protection over a state holding one long entry of 75 filled at 22,000 (no runner:
    it reads the state and says what it wants)."""
    config = strategy_config()
    config["sim"] = {**config["sim"], "stop_points": stop_points}
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    bar = day_bars(FIRST_ENTRY + 2)[-1]
    trace = new_trace_id(STRATEGY, "NIFTY", bar.ts, 1)
    key = client_key(trace)
    fill = OrderFilled(trace_id=trace, ts_event=bar.ts, client_key=key, broker_order_id="B1",
                       trade_id="T1", symbol="NIFTY", side=Side.BUY, qty=75, price=22_000.0)
    state = fold([
        OrderIntended(trace_id=trace, ts_event=bar.ts, client_key=key, strategy=STRATEGY,
                      version="1", symbol="NIFTY", exchange="NFO", side=Side.BUY, qty=75,
                      order_type=OrderType.MARKET, mode=TradingMode.LIVE),
        OrderSubmitted(trace_id=trace, ts_event=bar.ts, client_key=key, broker_order_id="B1",
                       outcome=Outcome.CONFIRMED),
        fill])
    protection = Protection(state, {trace}, lambda symbol: SymbolHistory(
        symbol, get_venue("NSE"), 5), lambda *args, **kwargs: 0, {})
    protection.note_fill(fill)
    return protection, deployed, bar


def test_the_protection_returns_the_stop_it_wants_and_places_nothing_itself() -> None:
    protection, deployed, bar = _entered(stop_points=12.0)
    wants = list(protection.keep(deployed, bar))  # every want answered None: nothing done
    assert [(type(w), w.order_type, w.price, w.side, w.qty) for w in wants] == [  # type: ignore[union-attr]
        (PlaceProtective, OrderType.SL_M, 22_000.0 - 12.0, -1, 75)]
    assert len(protection.state.orders) == 1  # only the entry: nothing was placed


def test_the_protection_of_a_flat_position_wants_it_withdrawn() -> None:
    protection, deployed, bar = _entered(stop_points=12.0)
    position = protection.state.positions[(STRATEGY, "NIFTY")]
    position.net_qty = 0  # as if an exit had filled
    assert list(protection.keep(deployed, bar)) == [
        Withdraw(STRATEGY, "NIFTY", "position flat")]
