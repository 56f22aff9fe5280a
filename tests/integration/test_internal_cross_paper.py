"""Internal crossing (``self_trade: net``) across two strategies on the paper exchange: one
strategy's limit sell rests at the exchange; the other strategy's market buy is filled by
it inside the firm - both positions move at the resting limit, the resting order is reduced
at the exchange (a quantity modification, or a cancel when all of it is crossed) and only
the remainder goes to market. A fill racing the withdrawal is never crossed again, and a
crash at each point of a cross, replayed by a new process over the same journal and
exchange, ends in the trading state of an uninterrupted run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from live.adapters.paper.exchange import PaperExchange
from live.backtest_reconciliation import _scan, actual_trades
from live.broker import BrokerUnavailableError, OrderState, OrderType, Side
from live.compliance.report import render_html, report_body
from live.compliance.thresholds import SurveillanceThresholds
from live.compliance_rules.config import load_compliance
from live.events import (
    AlertRaised,
    InternalCrossed,
    InternalCrossStarted,
    KillMode,
    KillSwitchChanged,
    OrderIntended,
    OrderModified,
    ParentOrderFinished,
    RiskChecked,
    TradingMode,
)
from live.risk.compliance_controls import ComplianceControls
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.deployments import build
from live.runner.runner import Runner
from live.state import trading_state_dict, trading_state_hash
from live.tca.extract import tca_tables
from strategies.version_config import VersionConfig
from tests.doubles import submitted_count
from tests.unit.test_runner_engine import (
    Stores,
    day_bars,
    record_clock,
    stores_in,
    strategy_config,
)

REPO = Path(__file__).resolve().parents[2]
BARS = 8  # past the 09:15-09:20 entry lockout, before the first signal
RESTING = "restsell1"


class Crash(Exception):
    """A process dying at a named point (SIGKILL: nothing after it runs)."""


def _compliance(folder: Path) -> Path:
    path = folder / "compliance.yaml"
    path.write_text((REPO / "compliance.yaml").read_text().replace(
        "self_trade: refuse", "self_trade: net"))
    return path


def _config(name: str, stop_points: float | None) -> dict[str, Any]:
    config = strategy_config(name)
    if stop_points is not None:
        config["sim"] = {**config["sim"], "stop_points": stop_points}
    return config


def _runner(stores: Stores, crash_at: str | None = None, stop_points: float | None = None
            ) -> tuple[Runner, PaperExchange]:
    exchange = stores.exchange()
    deployed = [build(VersionConfig.from_json(_config(name, stop_points)), 1, "live", 1.0,
                      "0" * 64) for name in ("ema_cross", "range_breakout")]
    risk = PreTradeRiskEngine(
        load_risk_limits(REPO / "risk.yaml"),
        compliance=ComplianceControls(load_compliance(_compliance(stores.folder))))

    def crash(point: str) -> None:
        if point == crash_at:
            raise Crash(point)

    runner = Runner(journal=stores.journal(), broker=exchange, deployed=deployed, mode="live",
                    clock=record_clock, risk=risk, crash_hook=crash,
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    runner.entry_traces.update({"trest", "tbuy"})  # both orders entries (as from signals)
    return runner, exchange


def _start(tmp_path: Path, resting_qty: int, crash_at: str | None = None,
           stop_points: float | None = None) -> tuple[Stores, Runner, PaperExchange, float]:
    stores = stores_in(tmp_path)
    runner, exchange = _runner(stores, crash_at, stop_points)
    runner.run(day_bars(BARS))  # no signal yet
    bar = day_bars(BARS)[-1]
    offer = round(bar.close * 1.01, 1)  # well above the market: it rests
    runner.executor.send(OrderIntended(
        trace_id="trest", ts_event=bar.ts, client_key=RESTING, strategy="range_breakout",
        version="1", symbol="NIFTY", exchange="NFO", side=Side.SELL, qty=resting_qty,
        order_type=OrderType.LIMIT, limit_price=offer, mode=TradingMode.LIVE))
    return stores, runner, exchange, offer


def _buy(runner: Runner, qty: int) -> bool:
    """ema_cross's market buy of ``qty`` through the runner's order path."""
    ema = next(d for d in runner.deployed if d.strategy == "ema_cross")
    return runner.send_slices(ema, day_bars(BARS)[-1], "tbuy", side=1, plan=[qty],
                              reduces=False, reason="entry")


def _book(exchange: PaperExchange) -> list[tuple[str | None, int, int, OrderState]]:
    return sorted((o.client_key, o.qty, o.filled_qty, o.state) for o in exchange.orders())


def _pos(runner: Runner, strategy: str) -> tuple[int, float]:
    pos = runner.state.positions[(strategy, "NIFTY")]
    return pos.net_qty, pos.avg_price


def test_cross_part_of_a_resting_order_reduces_it_at_the_exchange(tmp_path: Path) -> None:
    _, runner, exchange, offer = _start(tmp_path, resting_qty=150)
    assert _buy(runner, 75)
    assert _pos(runner, "ema_cross") == (75, offer)
    assert _pos(runner, "range_breakout") == (-75, offer)
    # nothing of ema_cross went to the exchange; the resting sell is 75 now
    assert _book(exchange) == [(RESTING, 75, 0, OrderState.OPEN)]
    assert runner.state.orders[RESTING].qty == 75
    kinds = [type(m).__name__ for _, m in runner.journal.read()]
    assert kinds.index("InternalCrossStarted") < kinds.index("OrderModified") < \
        kinds.index("InternalCrossed")
    crossed = [m for _, m in runner.journal.read() if isinstance(m, InternalCrossed)]
    assert [(c.crossed_qty, c.trade_id[0]) for c in crossed] == [(75, "X")]
    assert exchange.positions() == []  # the firm is flat at the exchange: nothing traded
    assert [(c.client_key, c.qty) for c in tca_tables(runner.journal).children] == [
        (RESTING, 75)]  # TCA: the resting order on what was left at the broker
    # the day's compliance report, from the journal alone, shows the cross - not a fill,
    # so no wash-trade finding
    body = report_body(runner.journal.read(), lambda seq: "h", day_bars(BARS)[-1].ts.astimezone(
        ZoneInfo("Asia/Kolkata")).date(), "live", SurveillanceThresholds(), None)
    assert [(c["buyer"], c["seller"], c["crossed_qty"], c["price"], c["resting_order"])
            for c in body["internal_crosses"]] == [
        ("ema_cross", "range_breakout", 75, offer, RESTING)]
    assert body["orders"]["fills"] == 0
    assert not [f for f in body["findings"] if f["detector"] == "wash"]
    assert "Internal crosses" in render_html({"body": body, "body_sha256": "x",
                                              "signature": {"signer": "s", "signed_at": "t"}})


def test_cross_all_of_a_resting_order_cancels_it_and_sends_the_remainder(tmp_path: Path
                                                                         ) -> None:
    _, runner, exchange, offer = _start(tmp_path, resting_qty=75)
    assert _buy(runner, 150)
    assert _pos(runner, "range_breakout") == (-75, offer)
    book = _book(exchange)
    assert (RESTING, 75, 0, OrderState.CANCELLED) in book
    sent = [o for o in exchange.orders() if o.client_key != RESTING]
    assert [(o.qty, o.order_type, o.side) for o in sent] == [(75, OrderType.MARKET, Side.BUY)]
    assert runner.state.orders[sent[0].client_key or ""].qty == 75  # only the remainder
    # TCA measures broker executions only: the cancelled resting order was all crossed
    # internally (no TCA parent), the buy is measured on the 75 sent to the exchange
    tca = tca_tables(runner.journal)
    assert [(c.strategy, c.qty, c.order_type) for c in tca.children] == [
        ("ema_cross", 75, "MARKET")]


def test_a_fill_racing_the_withdrawal_is_not_crossed_again(tmp_path: Path) -> None:
    _, runner, exchange, offer = _start(tmp_path, resting_qty=75)
    bar = day_bars(BARS)[-1]
    # the resting sell fills at the exchange; the runner has not heard of it yet
    exchange.on_bar("NIFTY", bar.ts + timedelta(minutes=1), offer, offer + 20, offer - 1,
                    offer + 5)
    assert runner.state.orders[RESTING].filled_qty == 0
    assert _buy(runner, 75)
    crossed = [m for _, m in runner.journal.read() if isinstance(m, InternalCrossed)]
    assert [c.crossed_qty for c in crossed] == [0]  # the broker's fill, never booked twice
    assert _pos(runner, "range_breakout")[0] == -75  # the exchange's fill only
    assert runner.state.orders[RESTING].status == "FILLED"
    sent = [o for o in exchange.orders() if o.client_key != RESTING]
    assert [o.qty for o in sent] == [75]  # all of the buy to market: nothing crossed


def _uninterrupted(folder: Path, resting_qty: int, buy_qty: int) -> str:
    _, runner, _, _ = _start(folder, resting_qty)
    assert _buy(runner, buy_qty)
    return trading_state_hash(runner.state)


@pytest.mark.parametrize(("point", "resting_qty", "buy_qty"), [
    ("after_cross_started", 150, 75), ("after_modify", 150, 75),
    ("after_cross_withdrawn", 150, 75),  # part crossed: the resting order modified
    ("after_cross_started", 75, 150), ("after_cross_withdrawn", 75, 150),  # all: cancelled
])
def test_crash_mid_cross_is_finished_from_the_exchange_book(
        tmp_path: Path, point: str, resting_qty: int, buy_qty: int) -> None:
    expected = _uninterrupted(tmp_path / "clean", resting_qty, buy_qty)
    stores, runner, exchange, _ = _start(tmp_path / "crash", resting_qty, crash_at=point)
    with pytest.raises(Crash):
        _buy(runner, buy_qty)
    restarted, _ = _runner(stores)  # a new process: recovery settles the cross first
    assert not [c for c in restarted.state.crosses.values() if not c.finished]
    ema = next(d for d in restarted.deployed if d.strategy == "ema_cross")
    # the bar re-processed (the pipeline's restart path): nothing crossed or sent twice,
    # the remainder (if any) sent once
    assert restarted.resume_slices(ema, day_bars(BARS)[-1], "tbuy")
    assert restarted.resume_slices(ema, day_bars(BARS)[-1], "tbuy")
    assert trading_state_hash(restarted.state) == expected, \
        trading_state_dict(restarted.state)
    started = [m for _, m in restarted.journal.read() if isinstance(m, InternalCrossStarted)]
    assert len(started) == 1
    if resting_qty > buy_qty:
        modified = [m for _, m in restarted.journal.read() if isinstance(m, OrderModified)]
        assert len(modified) == 1
        assert _book(exchange) == [(RESTING, 75, 0, OrderState.OPEN)]
    else:
        assert (RESTING, 75, 0, OrderState.CANCELLED) in _book(exchange)
        sent = [o for o in exchange.orders() if o.client_key != RESTING]
        assert [o.qty for o in sent] == [75]  # the remainder, once
        assert submitted_count(exchange, sent[0].client_key or "") == 1


@pytest.mark.parametrize("case", ["no_entry", "resting_strategy_halted"])
def test_a_resting_limit_the_runner_may_not_cross_is_left_alone(tmp_path: Path, case: str
                                                                ) -> None:
    _, runner, exchange, _ = _start(tmp_path, resting_qty=75)
    if case == "no_entry":
        runner.entry_traces.discard("trest")
    else:
        runner.executor.record(KillSwitchChanged(
            trace_id="", ts_event=day_bars(BARS)[-1].ts, scope="range_breakout",
            mode=KillMode.HALT, actor="test", reason="test"))
    assert not _buy(runner, 75)
    runner.bus.durable()  # the denial is deferred to the bar's commit (one commit per bar)
    checks = [m for _, m in runner.journal.read() if isinstance(m, RiskChecked)]
    assert (checks[-1].passed, checks[-1].check) == (False, "self_trade")
    assert ("not an entry" if case == "no_entry" else "kill switch is halt") in \
        checks[-1].reason
    assert runner.state.crosses == {}
    assert _book(exchange) == [(RESTING, 75, 0, OrderState.OPEN)]  # nothing sent or touched


def test_both_sides_of_a_cross_get_their_protective_stops(tmp_path: Path) -> None:
    _, runner, exchange, _ = _start(tmp_path, resting_qty=75, stop_points=40.0)
    assert _buy(runner, 75)
    runner._protect(day_bars(BARS)[-1])  # the protection at the bar, as the loop runs it
    stops = sorted((o.strategy, o.side, o.qty, o.order_type, o.after_trade)
                   for o in runner.state.working.values() if o.protective)
    assert [(s, side, q, t) for s, side, q, t, _ in stops] == [
        ("ema_cross", Side.SELL, 75, OrderType.SL_M),
        ("range_breakout", Side.BUY, 75, OrderType.SL_M)]
    assert {a for *_, a in stops} == {"X" + _cross_id(runner)}
    assert not [m for _, m in runner.journal.read() if isinstance(m, AlertRaised)
                and m.code == "unprotected_position"]
    assert all(o.state is OrderState.OPEN for o in exchange.orders()
               if o.client_key != RESTING)


def _cross_id(runner: Runner) -> str:
    (cross_id,) = runner.state.crosses
    return cross_id


def test_a_parent_orders_child_crossed_internally_counts_as_filled(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner, exchange = _runner(stores)
    config = strategy_config("range_breakout")
    config["execution"] = {"name": "twap", "horizon_minutes": 10, "child_count": 2,
                           "randomise_pct": 0.0}
    config["sim"] = {**config["sim"], "qty_lots": 2}
    seller = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    runner.deployed[1] = seller
    runner.run(day_bars(BARS))
    bar = day_bars(BARS)[-1]
    runner.entry_traces.add("tpar")
    assert runner.start_parent(seller, bar, "tpar", side=-1, qty=150, day=None)
    (child,) = exchange.orders()  # the first child (75) rests as a limit sell
    assert _buy(runner, 75)  # crossed against the child: the child cancelled
    assert [c.crossed_qty for c in runner.state.crosses.values()] == [75]
    runner.run(day_bars(BARS + 14)[BARS:])
    finished = [m for _, m in runner.journal.read() if isinstance(m, ParentOrderFinished)]
    assert [(m.filled_qty, m.outcome) for m in finished] == [(150, "complete")]
    children = [m.qty for _, m in runner.journal.read() if isinstance(m, OrderIntended)
                and m.strategy == "range_breakout"]
    assert children == [75, 75]  # the crossed 75 counted: the second child not 150
    assert runner.state.positions[("range_breakout", "NIFTY")].net_qty == -150
    assert child.client_key in {c.started.resting_key for c in runner.state.crosses.values()}


def test_shadow_reconciliation_sees_a_crossed_entry_as_the_trade_it_is(tmp_path: Path
                                                                       ) -> None:
    _, runner, _, offer = _start(tmp_path, resting_qty=75)
    assert _buy(runner, 75)  # ema_cross enters long inside the firm
    ema = next(d for d in runner.deployed if d.strategy == "ema_cross")
    assert runner.send_slices(ema, day_bars(BARS)[-1], "tsell", side=-1, plan=[75],
                              reduces=True, reason="exit")
    runner.run(day_bars(BARS + 2)[BARS:])  # the exit fills at the exchange
    trades = actual_trades(_scan(runner.journal), "ema_cross", "NIFTY")
    assert [(t.side, t.qty, t.entry_price) for t in trades] == [(1, 75, offer)]
    assert actual_trades(_scan(runner.journal), "range_breakout", "NIFTY") == []  # open


class _Unreadable:
    """The exchange with its order status unreadable ``fails`` times (a lost connection)."""

    def __init__(self, exchange: PaperExchange, fails: int) -> None:
        self.exchange, self.fails = exchange, fails

    def status(self, **kwargs: Any) -> object:
        if self.fails:
            self.fails -= 1
            raise BrokerUnavailableError("status: connection reset")
        return self.exchange.status(**kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self.exchange, name)


def test_an_unreadable_book_holds_the_cross_until_the_next_poll(tmp_path: Path) -> None:
    _, runner, exchange, offer = _start(tmp_path, resting_qty=150)
    runner.broker = _Unreadable(exchange, fails=1)  # type: ignore[assignment]
    assert not _buy(runner, 75)  # held: nothing booked, nothing sent, alerted
    (cross,) = runner.state.crosses.values()
    assert not cross.finished and ("ema_cross", "NIFTY") not in runner.state.positions
    assert [m.code for _, m in runner.journal.read() if isinstance(m, AlertRaised)
            and m.code == "cross_unsettled"] == ["cross_unsettled"]
    assert _book(exchange) == [(RESTING, 150, 0, OrderState.OPEN)]  # untouched
    runner.poll_fills(day_bars(BARS)[-1])  # the next poll: the book settles it
    assert cross.finished and cross.crossed_qty == 75
    assert _pos(runner, "ema_cross") == (75, offer)
    assert _book(exchange) == [(RESTING, 75, 0, OrderState.OPEN)]
