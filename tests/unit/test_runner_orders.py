"""NSE and Kite order rules in the runner (issue 15, item 7), on the synthetic NSE minute
bars, a SQLite journal and the paper exchange: the version's product on every order, MIS
refused when its cutoff is not safely before the broker's square-off, orders sliced at the
freeze quantity (each slice risk-checked, deterministically keyed, resumed once after a
crash), market protection, exit prices clamped to the band, broker rejections and partial
fills at the cutoff.

EMA cross with default params on 2025-03-03 goes short at the close of bar 22 (filled at
bar 23's open) and flips long at bar 30.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from live.adapters.paper import FillModel, PaperExchange
from live.broker import (
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    Outcome,
    Side,
    SubmitResult,
)
from live.db import make_engine
from live.events import (
    ModeChanged,
    OrderCancelled,
    OrderIntended,
    OrderRejected,
    OrderSubmitted,
    RiskChecked,
    client_key,
)
from live.governance.kill import KillCommand
from live.governance.policy import load_policy
from live.orders.prices import protection_price
from live.orders.rules import OrderRules
from live.orders.slicing import slice_key
from live.risk.interface import RiskEngine
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.decisions import UnsupportedVersionError
from live.runner.deployments import build
from live.runner.feed import Idle
from live.runner.runner import Runner
from live.state import OrderStatus
from strategies.roster import STRATEGIES
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk, submitted_count
from tests.unit.test_runner_engine import (
    FIRST_ENTRY,
    ProcessKilled,
    RejectsMarketOrdersAt,
    Stores,
    alerts,
    day_bars,
    record_clock,
    repo_limits,
    strategy_config,
)

FLIP = 30  # bar whose close flips the short into a long


def rules(**freeze: int) -> OrderRules:
    return OrderRules(freeze_qty={"default": 1800, **freeze})


@dataclass
class OrderStores(Stores):
    """:class:`Stores` whose runner takes the order rules (and a partial-fill exchange)."""

    order_rules: OrderRules = field(default_factory=OrderRules)
    partial_fill_ratio: float = 0.0

    def exchange(self) -> PaperExchange:
        return PaperExchange(make_engine(f"sqlite:///{self.folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05,
                                                  partial_fill_ratio=self.partial_fill_ratio))

    def make(self, risk: RiskEngine | None = None, *, broker: object | None = None,
             crash_hook: Callable[[str], None] | None = None) -> Runner:
        exchange = broker if broker is not None else self.exchange()
        deployed = build(VersionConfig.from_json(self.config), 1, "live", 1.0, "0" * 64)
        return Runner(journal=self.journal(), broker=exchange, deployed=[deployed],  # type: ignore[arg-type]
                      mode="live", clock=record_clock, risk=risk or PassThroughRisk(),
                      crash_hook=crash_hook, order_rules=self.order_rules,
                      market=lambda b: exchange.on_bar(  # type: ignore[attr-defined]
                          b.symbol, b.ts, b.open, b.high, b.low, b.close))


def order_stores(folder: Path, *, lots: int = 1, order_rules: OrderRules | None = None,
                 **config: object) -> OrderStores:
    folder.mkdir(parents=True, exist_ok=True)
    base = strategy_config()
    base["sim"] = {**base["sim"], "qty_lots": lots, **config.pop("sim", {})}  # type: ignore[dict-item]
    stores = OrderStores(folder, {**base, **config})
    if order_rules is not None:
        stores.order_rules = order_rules
    return stores


def intents(stores: Stores, bar: int) -> list[OrderIntended]:
    ts = day_bars(bar + 1)[bar].ts
    return [m for m in stores.messages(OrderIntended) if m.ts_event == ts]  # type: ignore[misc]


# --- product ------------------------------------------------------------------------------


def test_runner_sends_every_order_with_the_versions_product(tmp_path: Path) -> None:
    stores = order_stores(tmp_path, product="MIS")
    runner = stores.make()
    runner.recover()
    runner.run(day_bars(FLIP + 2))
    products = {m.product for m in stores.messages(OrderIntended)}  # type: ignore[attr-defined]
    assert products == {"MIS"}


def test_runner_refuses_mis_with_a_cutoff_inside_the_square_off_margin(tmp_path: Path) -> None:
    stores = order_stores(tmp_path, product="MIS", cutoff="15:20")
    with pytest.raises(UnsupportedVersionError, match=r"cutoff 15:20.*15:25.*15:15"):
        stores.make()


def test_runner_refuses_mis_without_a_cutoff(tmp_path: Path) -> None:
    stores = order_stores(tmp_path, product="MIS", cutoff=None)
    with pytest.raises(UnsupportedVersionError, match="MIS without a cutoff"):
        stores.make()


def test_runner_loads_mis_with_the_venue_cutoff_before_the_square_off(tmp_path: Path) -> None:
    stores = order_stores(tmp_path, product="MIS")  # 15:00 <= 15:25 - 10 min
    runner = stores.make()
    runner.recover()
    (started,) = stores.messages(ModeChanged)
    assert "product MIS: our cutoff 15:00 flattens before the broker's MIS square-off at " \
        "15:25" in started.reason  # type: ignore[attr-defined]


def test_runner_loads_nrml_with_a_cutoff_after_the_mis_square_off(tmp_path: Path) -> None:
    stores = order_stores(tmp_path, cutoff="15:28")
    assert stores.make().deployed[0].product == "NRML"


def test_runner_refuses_mis_on_a_broker_without_a_configured_square_off(
        tmp_path: Path) -> None:
    stores = order_stores(tmp_path, product="MIS",
                          order_rules=OrderRules(mis_square_off={"kite": {"NFO": "15:25"}}))
    with pytest.raises(UnsupportedVersionError, match="no MIS square-off time configured"):
        stores.make()


def test_runner_refuses_a_product_the_policy_does_not_allow_the_strategy(
        tmp_path: Path, repo_root: Path) -> None:
    text = (repo_root / "policy.yaml").read_text().replace(
        "  atr_divergence:\n", "  ema_cross:\n    products: [NRML]\n  atr_divergence:\n")
    (tmp_path / "policy.yaml").write_text(text)
    policy = load_policy(tmp_path / "policy.yaml", set(STRATEGIES))
    stores = order_stores(tmp_path / "s", product="MIS")
    deployed = build(VersionConfig.from_json(stores.config), 1, "live", 1.0, "0" * 64)
    with pytest.raises(UnsupportedVersionError, match="product MIS is not allowed for ema_cross"):
        Runner(journal=stores.journal(), broker=stores.exchange(), deployed=[deployed],
               mode="live", clock=record_clock, risk=PassThroughRisk(), policy=policy)


def test_runner_refuses_protective_orders_above_the_freeze_quantity(tmp_path: Path) -> None:
    stores = order_stores(tmp_path, lots=3, order_rules=rules(NIFTY=150),
                          sim={"stop_points": 40.0})
    with pytest.raises(UnsupportedVersionError, match="freeze quantity 150"):
        stores.make()


# --- freeze quantity ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sliced(tmp_path_factory: pytest.TempPathFactory) -> OrderStores:
    """Four lots (300 units) with a freeze quantity of 150, the repository's risk limits."""
    stores = order_stores(tmp_path_factory.mktemp("sliced"), lots=4,
                          order_rules=rules(NIFTY=150))
    runner = stores.make(PreTradeRiskEngine(repo_limits()))
    runner.recover()
    runner.run(day_bars(FLIP + 2))
    return stores


def test_runner_entry_above_the_freeze_quantity_is_sent_in_slices(sliced: OrderStores) -> None:
    entry = intents(sliced, FIRST_ENTRY)
    assert [(m.qty, m.slice_index, m.slice_count, m.parent_qty) for m in entry] == [
        (150, 0, 2, 300), (150, 1, 2, 300)]


def test_runner_each_slice_has_its_own_risk_check(sliced: OrderStores) -> None:
    ts = day_bars(FIRST_ENTRY + 1)[FIRST_ENTRY].ts
    checks = [m for m in sliced.messages(RiskChecked) if m.ts_event == ts]
    assert [c.passed for c in checks] == [True, True]  # the equal slices are no duplicates


def test_runner_slice_keys_derive_from_the_trace(sliced: OrderStores) -> None:
    entry = intents(sliced, FIRST_ENTRY)
    trace = entry[0].trace_id
    assert [m.client_key for m in entry] == [client_key(trace), slice_key(trace, 1)]
    assert {m.trace_id for m in entry} == {trace}


def test_runner_exit_above_the_freeze_quantity_is_sliced_too(sliced: OrderStores) -> None:
    flip = intents(sliced, FLIP)
    exits = [m for m in flip if m.side is Side.BUY and m.slice_count == 2
             and m.trace_id != flip[-1].trace_id]
    assert [m.qty for m in exits] == [150, 150]
    assert sum(m.qty for m in flip) == 600  # 300 to close the short, 300 to open the long


def test_runner_sliced_orders_reach_the_exchange_once_each(sliced: OrderStores) -> None:
    exchange = sliced.exchange()
    keys = [m.client_key for m in sliced.messages(OrderIntended)]  # type: ignore[attr-defined]
    assert [submitted_count(exchange, k) for k in keys] == [1] * len(keys)


def test_runner_slice_denied_by_risk_stops_the_rest(tmp_path: Path) -> None:
    # five lots in slices of two: the third slice would make 5 lots > max_net_lots 4
    stores = order_stores(tmp_path, lots=5, order_rules=rules(NIFTY=150))
    runner = stores.make(PreTradeRiskEngine(repo_limits()))
    runner.recover()
    runner.run(day_bars(FIRST_ENTRY + 1))
    assert [m.qty for m in intents(stores, FIRST_ENTRY)] == [150, 150]
    (stopped,) = alerts(stores, "slices_stopped")
    assert "slice 3 of 3 denied by max_net_lots_per_strategy" in stopped.message
    assert "the 2 slice(s) sent stay working" in stopped.message


def test_runner_flatten_kill_between_bars_sends_the_exit_in_slices(tmp_path: Path) -> None:
    stores = order_stores(tmp_path, lots=5, order_rules=rules(NIFTY=150))
    desk: list[KillCommand] = []
    runner = stores.make()
    runner.kill_commands = lambda after: [c for c in desk if c.id > after]
    runner.recover()
    bars = day_bars(FIRST_ENTRY + 3)
    runner.run(bars)
    assert runner.net("ema_cross", "NIFTY") == -375
    desk.append(KillCommand(1, "ema_cross", "flatten", "ops", "test", "2026-01-01T00:00:00"))
    waiting = Idle(bars[-1].ts + timedelta(seconds=20))
    runner.run([waiting])
    exits = [m for m in stores.messages(OrderIntended)
             if m.ts_event == waiting.ts]  # type: ignore[attr-defined]
    assert [(m.side, m.qty, m.slice_index) for m in exits] == [
        (Side.BUY, 150, 0), (Side.BUY, 150, 1), (Side.BUY, 75, 2)]


class DiesAt:
    """A crash hook: the process dies at the ``n``-th time it passes ``point``."""

    def __init__(self, point: str, n: int) -> None:
        self.point, self.n, self.seen = point, n, 0

    def __call__(self, point: str) -> None:
        if point == self.point:
            self.seen += 1
            if self.seen == self.n:
                raise ProcessKilled


@pytest.mark.parametrize(("point", "n", "sent_before"), [
    ("after_ack", 1, 1),  # the first slice answered, the second not yet checked
    ("after_intent", 2, 1),  # the second slice journaled, never sent
    ("after_submit", 2, 2),  # the second slice sent, its answer not journaled
])
def test_runner_crash_between_slices_then_restart_sends_each_slice_once(
        tmp_path: Path, point: str, n: int, sent_before: int) -> None:
    stores = order_stores(tmp_path, lots=5, order_rules=rules(NIFTY=150))
    bars = day_bars(FIRST_ENTRY + 3)
    runner = stores.make(crash_hook=DiesAt(point, n))
    runner.recover()
    with pytest.raises(ProcessKilled):
        runner.run(bars)
    exchange = stores.exchange()
    assert sum(submitted_count(exchange, slice_key(m.trace_id, m.slice_index)) for m in
               intents(stores, FIRST_ENTRY)) == sent_before
    restarted = stores.make()
    restarted.recover()
    restarted.run(bars)  # the feed again: the journal's last bar is re-processed once
    entry = intents(stores, FIRST_ENTRY)
    assert [(m.qty, m.slice_index) for m in entry] == [(150, 0), (150, 1), (75, 2)]
    assert [submitted_count(exchange, m.client_key) for m in entry] == [1, 1, 1]
    assert restarted.net("ema_cross", "NIFTY") == -375
    assert sum(restarted.entries.values()) == 1  # one entry, however many slices


# --- market protection and price bands -----------------------------------------------------


def test_runner_market_orders_carry_market_protection_to_the_paper_exchange(
        tmp_path: Path) -> None:
    stores = order_stores(tmp_path)
    runner = stores.make()
    runner.recover()
    bars = day_bars(FIRST_ENTRY + 1)
    runner.run(bars)
    (entry,) = intents(stores, FIRST_ENTRY)
    assert entry.market_protection_pct == 2.0
    report = stores.exchange().status(client_key=entry.client_key)
    assert report is not None
    assert report.limit_price == protection_price(bars[FIRST_ENTRY].close, -1, 2.0, 0.05)


class BandedBroker(RejectsMarketOrdersAt):
    """A paper exchange that reports a (narrow) price band, as Kite's quote does."""

    def __init__(self, exchange: PaperExchange, lower: float, upper: float) -> None:
        super().__init__(exchange, at=None)  # type: ignore[arg-type]  # rejects nothing
        self.band = (lower, upper)

    def price_band(self, symbol: str) -> tuple[float, float]:
        return self.band


def test_runner_clamps_a_protective_stop_outside_the_band_to_its_edge(tmp_path: Path) -> None:
    stores = order_stores(tmp_path, sim={"stop_points": 40.0})
    bars = day_bars(FIRST_ENTRY + 3)
    ceiling = bars[FIRST_ENTRY + 1].open + 20.0  # the short's stop (entry + 40) is above it
    broker = BandedBroker(stores.exchange(), 1000.0, ceiling)
    runner = stores.make(broker=broker)
    runner.recover()
    runner.run(bars)
    (stop,) = [m for m in stores.messages(OrderIntended) if m.protective]  # type: ignore[attr-defined]
    assert stop.trigger_price == ceiling
    (clamped,) = alerts(stores, "price_clamped")
    assert "exit clamped to" in clamped.message


# --- broker rejections and partial fills ----------------------------------------------------


def test_runner_rms_rejection_of_an_entry_is_journaled_with_the_reason_and_alerted(
        tmp_path: Path) -> None:
    stores = order_stores(tmp_path)
    bars = day_bars(FIRST_ENTRY + 2)
    runner = stores.make()
    runner.recover()
    runner.run(bars[:FIRST_ENTRY])
    stores.exchange().set_faults(reject_next=1, reject_reason="RMS: insufficient funds")
    runner.run(bars[FIRST_ENTRY:])
    (answer,) = stores.messages(OrderSubmitted)
    assert answer.outcome is Outcome.REJECTED  # type: ignore[attr-defined]
    assert answer.reason == "RMS: insufficient funds"  # type: ignore[attr-defined]
    (alert,) = alerts(stores, "entry_rejected")
    assert alert.severity == "error" and "RMS: insufficient funds" in alert.message
    assert runner.net("ema_cross", "NIFTY") == 0
    assert stores.exchange().faults.reject_next == 0  # one refusal, used up


def test_runner_rejected_exit_is_retried_until_it_goes_through(tmp_path: Path) -> None:
    stores = order_stores(tmp_path)
    bars = day_bars(FLIP + 4)
    runner = stores.make()
    runner.recover()
    runner.run(bars[:FLIP])
    stores.exchange().set_faults(reject_next=2)  # the flip's exit, then its first retry
    runner.run(bars[FLIP:])
    exits = [m for m in stores.messages(OrderIntended)
             if m.ts_event >= bars[FLIP].ts and m.side is Side.BUY]  # type: ignore[attr-defined]
    states = [runner.state.orders[m.client_key].status for m in exits]
    assert states[:2] == [OrderStatus.REJECTED, OrderStatus.REJECTED]
    assert OrderStatus.FILLED in states[2:]
    assert len({m.client_key for m in exits}) == len(exits)  # a fresh key each time
    assert len(alerts(stores, "exit_rejected")) == 2


class RmsRejectsAfterAck(RejectsMarketOrdersAt):
    """Kite's usual RMS path: ``place_order`` answers an order id, and the order book then
    shows the order REJECTED by the broker's risk checks (never reaching the exchange)."""

    def __init__(self, exchange: PaperExchange, at: datetime) -> None:
        super().__init__(exchange, at)
        self.rejected: list[OrderReport] = []

    def submit(self, request: OrderRequest) -> SubmitResult:  # type: ignore[override]
        if request.order_type is not OrderType.MARKET or self.now != self.at:
            return self.exchange.submit(request)
        self.rejected.append(OrderReport(
            broker_order_id=f"RMS{len(self.rejected)}", client_key=request.client_key,
            symbol=request.symbol, side=request.side, qty=request.qty, filled_qty=0,
            avg_fill_price=0.0, state=OrderState.REJECTED, order_type=request.order_type,
            limit_price=None, ts=self.at, reason="RMS:Margin Exceeds, Required:1.2L"))
        return SubmitResult(Outcome.CONFIRMED, self.rejected[-1].broker_order_id)

    def orders(self) -> list[OrderReport]:
        return self.exchange.orders() + self.rejected

    def status(self, *, broker_order_id: str | None = None,
               client_key: str | None = None) -> OrderReport | None:
        mine = [o for o in self.rejected if client_key in (None, o.client_key)
                and broker_order_id in (None, o.broker_order_id)]
        return mine[0] if mine else self.exchange.status(broker_order_id=broker_order_id,
                                                         client_key=client_key)


def test_runner_rms_rejection_seen_in_the_order_book_is_journaled_and_alerted(
        tmp_path: Path) -> None:
    stores = order_stores(tmp_path)
    bars = day_bars(FIRST_ENTRY + 3)
    runner = stores.make(broker=RmsRejectsAfterAck(stores.exchange(), bars[FIRST_ENTRY].ts))
    runner.recover()
    runner.run(bars)
    (entry,) = intents(stores, FIRST_ENTRY)
    (rejected,) = [m for m in stores.messages(OrderRejected)
                   if m.client_key == entry.client_key]  # type: ignore[attr-defined]
    assert rejected.reason == "RMS:Margin Exceeds, Required:1.2L"  # type: ignore[attr-defined]
    assert runner.state.orders[entry.client_key].status is OrderStatus.REJECTED
    (alert,) = alerts(stores, "entry_rejected")
    assert "RMS:Margin Exceeds" in alert.message
    assert runner.net("ema_cross", "NIFTY") == 0


@pytest.fixture(scope="module")
def partial_at_cutoff(tmp_path_factory: pytest.TempPathFactory) -> tuple[OrderStores, Runner]:
    """Two lots, half filled at the first bar; the cutoff (09:39) is the bar after."""
    stores = order_stores(tmp_path_factory.mktemp("partial"), lots=2, cutoff="09:39")
    stores.partial_fill_ratio = 0.5
    runner = stores.make()
    runner.recover()
    runner.run(day_bars(FIRST_ENTRY + 4))
    return stores, runner


def test_runner_partial_fill_counts_only_the_filled_quantity(
        partial_at_cutoff: tuple[OrderStores, Runner]) -> None:
    stores, _ = partial_at_cutoff
    (entry,) = intents(stores, FIRST_ENTRY)
    fills = [f for f in stores.exchange().fills() if f.client_key == entry.client_key]
    assert [f.qty for f in fills] == [75]  # of 150


def test_runner_cancels_the_remainder_of_a_partly_filled_entry_at_the_cutoff(
        partial_at_cutoff: tuple[OrderStores, Runner]) -> None:
    stores, runner = partial_at_cutoff
    (entry,) = intents(stores, FIRST_ENTRY)
    assert runner.state.orders[entry.client_key].status is OrderStatus.CANCELLED
    (cancel,) = [m for m in stores.messages(OrderCancelled)
                 if m.client_key == entry.client_key]  # type: ignore[attr-defined]
    assert "entry remainder 75 cancelled" in cancel.reason  # type: ignore[attr-defined]


def test_runner_flattens_only_the_filled_part_at_the_cutoff(
        partial_at_cutoff: tuple[OrderStores, Runner]) -> None:
    stores, runner = partial_at_cutoff
    (exit_,) = intents(stores, FIRST_ENTRY + 1)
    assert (exit_.side, exit_.qty) == (Side.BUY, 75)
    assert runner.net("ema_cross", "NIFTY") == 0
