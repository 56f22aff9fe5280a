"""The smart order router (live.sor) over two real paper exchanges of different depth: the
rules' plans, venue limits, reports aggregated across venues, and the runner splitting an
entry into one journaled child per venue, reconciled per venue after a lost answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from live.adapters.paper import FillModel, PaperExchange
from live.broker import BrokerInputError, OrderRequest, OrderType, Outcome, Side
from live.db import make_engine
from live.events import AlertRaised, OrderIntended, OrderSubmitted, ReconciliationCompleted
from live.risk.interface import RiskEngine
from live.runner.deployments import build
from live.runner.runner import Runner
from live.sor.router import SmartOrderRouter
from live.sor.rules import BestLiquidity, Leg, ProRataSplit, RoutingRule, plan_legs
from live.sor.venues import RoutingError, Venue, VenueConfigError
from live.state import OrderStatus
from strategies.version_config import VersionConfig
from stratops.errors import LiveSetupError
from stratops.settings import Settings
from stratops.venue_ops import venue_router
from tests.doubles import PassThroughRisk, submitted_count
from tests.unit.test_runner_engine import FIRST_ENTRY, Stores, day_bars, record_clock
from tests.unit.test_runner_orders import FLIP, intents, order_stores

LOT = 75
FREEZE = 1800


def paper(folder: Path, name: str) -> PaperExchange:
    return PaperExchange(make_engine(f"sqlite:///{folder / f'{name}.db'}"), seed=3,
                         fill_model=FillModel(slippage_ticks=1.0, tick_size=0.05))


def venues(folder: Path, *, deep_qty: int = 3000, shallow_qty: int = 1000,
           **shallow_limits: float) -> list[Venue]:
    return [Venue(name="shallow", broker=paper(folder, "shallow"), account="A1",
                  depth_qty=shallow_qty, **shallow_limits),  # type: ignore[arg-type]
            Venue(name="deep", broker=paper(folder, "deep"), account="A2", depth_qty=deep_qty)]


def plan(rule: RoutingRule, vs: list[Venue], qty: int, price: float = 22_000.0) -> list[Leg]:
    return plan_legs(rule, vs, qty=qty, lot_size=LOT, price=price, freeze_qty=FREEZE)


# --- rules ------------------------------------------------------------------------------------

def test_best_liquidity_sends_all_to_the_deep_venue(tmp_path: Path) -> None:
    assert plan(BestLiquidity(), venues(tmp_path), 300) == [Leg("deep", 300)]


def test_best_liquidity_prefers_a_venue_deep_enough_to_the_first_listed(tmp_path: Path) -> None:
    vs = venues(tmp_path, deep_qty=200, shallow_qty=150)
    assert plan(BestLiquidity(), vs, 150) == [Leg("deep", 150)]


def test_pro_rata_splits_by_depth_in_whole_lots(tmp_path: Path) -> None:
    assert plan(ProRataSplit(), venues(tmp_path), 300) == [Leg("shallow", 75), Leg("deep", 225)]


@given(lots=st.integers(1, 200), deep=st.integers(1, 10_000), shallow=st.integers(1, 10_000))
def test_pro_rata_keeps_the_total_in_lots_and_each_share_within_a_lot_of_exact(
        lots: int, deep: int, shallow: int) -> None:
    vs = [Venue(name="a", broker=None, account="x", depth_qty=shallow),  # type: ignore[arg-type]
          Venue(name="b", broker=None, account="y", depth_qty=deep)]  # type: ignore[arg-type]
    shares = ProRataSplit().shares(vs, lots * LOT, LOT)
    assert sum(q for _, q in shares) == lots * LOT
    for venue, qty in shares:
        exact = lots * venue.depth_qty / (deep + shallow)
        assert qty % LOT == 0 and abs(qty / LOT - exact) < 1


def test_venue_qty_limit_cuts_its_share_into_child_orders(tmp_path: Path) -> None:
    vs = venues(tmp_path, shallow_qty=3000, deep_qty=1000, max_qty_per_order=150)
    assert plan(ProRataSplit(), vs, 600) == [Leg("shallow", 150)] * 3 + [Leg("deep", 150)]


def test_venue_notional_limit_below_a_lot_takes_nothing(tmp_path: Path) -> None:
    vs = venues(tmp_path, shallow_qty=9000, max_notional_inr=1_000_000.0)  # < 75 x 22,000
    assert plan(BestLiquidity(), vs, 300) == [Leg("deep", 300)]


def test_no_venue_able_to_take_a_lot_is_a_routing_error(tmp_path: Path) -> None:
    vs = venues(tmp_path, max_notional_inr=1_000.0)[:1]
    with pytest.raises(RoutingError, match="no venue can take one lot"):
        plan(BestLiquidity(), vs, 75)


def test_venue_with_a_non_positive_depth_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VenueConfigError, match="depth_qty 0"):
        Venue(name="v", broker=paper(tmp_path, "v"), account="A", depth_qty=0)


def test_router_with_two_venues_of_one_name_is_refused(tmp_path: Path) -> None:
    v = venues(tmp_path)[0]
    with pytest.raises(VenueConfigError, match="unique"):
        SmartOrderRouter([v, v], BestLiquidity())


# --- the router as a broker -------------------------------------------------------------------

def _request(key: str, venue: str | None, qty: int = 75) -> OrderRequest:
    return OrderRequest(client_key=key, symbol="NIFTY", exchange="NFO", side=Side.BUY,
                        qty=qty, venue=venue)


@dataclass
class Routed:
    router: SmartOrderRouter
    shallow: PaperExchange
    deep: PaperExchange

    def bar(self, minute: int, price: float) -> None:
        ts = day_bars(minute + 1)[minute].ts
        for exchange in (self.shallow, self.deep):
            exchange.on_bar("NIFTY", ts, price, price + 1, price - 1, price)


@pytest.fixture
def routed(tmp_path: Path) -> Routed:
    vs = venues(tmp_path)
    return Routed(SmartOrderRouter(vs, ProRataSplit()), vs[0].broker,  # type: ignore[arg-type]
                  vs[1].broker)  # type: ignore[arg-type]


def test_router_submit_goes_to_the_named_venue_with_a_qualified_id(routed: Routed) -> None:
    result = routed.router.submit(_request("k1", "shallow"))
    assert result.outcome is Outcome.CONFIRMED
    assert result.broker_order_id is not None and result.broker_order_id.startswith("shallow:")
    assert submitted_count(routed.shallow, "k1") == 1 and submitted_count(routed.deep, "k1") == 0


def test_router_unknown_venue_is_bad_input(routed: Routed) -> None:
    with pytest.raises(BrokerInputError, match="venue 'nowhere'"):
        routed.router.submit(_request("k1", "nowhere"))


def test_router_fills_and_positions_aggregate_across_venues(routed: Routed) -> None:
    routed.bar(0, 100.0)
    routed.router.submit(_request("k1", "shallow", 75))
    routed.router.submit(_request("k2", "deep", 225))
    routed.bar(1, 101.0)
    fills = routed.router.fills()
    assert sorted((f.trade_id.split(":")[0], f.qty) for f in fills) == [("deep", 225),
                                                                       ("shallow", 75)]
    (position,) = routed.router.positions()
    assert position.net_qty == 300


def test_router_status_by_key_finds_the_child_at_its_venue(routed: Routed) -> None:
    routed.router.submit(_request("k2", "deep"))
    report = routed.router.status(client_key="k2")
    assert report is not None and report.broker_order_id.startswith("deep:")


def test_router_cancel_by_qualified_id_reaches_the_venue(routed: Routed) -> None:
    placed = routed.router.submit(_request("k1", "deep"))
    assert placed.broker_order_id is not None
    assert routed.router.cancel(placed.broker_order_id).outcome is Outcome.CONFIRMED


def test_router_protective_order_follows_the_venue_of_its_trade(routed: Routed) -> None:
    routed.bar(0, 100.0)
    routed.router.submit(_request("k1", "shallow"))
    routed.bar(1, 101.0)
    (fill,) = routed.router.fills()
    stop = OrderRequest(client_key="k1s", symbol="NIFTY", exchange="NFO", side=Side.SELL,
                        qty=75, order_type=OrderType.SL_M, trigger_price=90.0,
                        after_trade=fill.trade_id)
    assert routed.router.submit(stop).broker_order_id.startswith("shallow:")  # type: ignore[union-attr]


# --- the runner over the router ---------------------------------------------------------------

@dataclass
class RoutedStores(Stores):
    """:class:`Stores` whose broker is a router over two paper venues in the same folder."""

    rule: str = "pro_rata"

    def router(self) -> SmartOrderRouter:
        rule = ProRataSplit() if self.rule == "pro_rata" else BestLiquidity()
        return SmartOrderRouter(venues(self.folder), rule)

    def runner(self, risk: RiskEngine | None = None,
               kill_commands: Callable[[int], list] | None = None, *,  # type: ignore[type-arg]
               broker: object | None = None,
               crash_hook: Callable[[str], None] | None = None) -> Runner:
        router = self.router()
        deployed = build(VersionConfig.from_json(self.config), self.version, self.mode,
                         self.fraction, "0" * 64)

        def market(b: object) -> None:
            for venue in router.venues.values():
                venue.broker.on_bar(b.symbol, b.ts, b.open, b.high,  # type: ignore[attr-defined]
                                    b.low, b.close)  # type: ignore[attr-defined]

        return Runner(journal=self.journal(), broker=router, deployed=[deployed],
                      mode=self.mode, clock=record_clock, risk=risk or PassThroughRisk(),
                      crash_hook=crash_hook, market=market)


def routed_stores(folder: Path, rule: str = "pro_rata") -> RoutedStores:
    base = order_stores(folder, lots=4)
    return RoutedStores(base.folder, base.config, rule=rule)


@pytest.fixture(scope="module")
def split_run(tmp_path_factory: pytest.TempPathFactory) -> RoutedStores:
    """Four lots, pro rata over depths 1000 (shallow) and 3000 (deep); the shallow venue's
    first answer is lost, then the runner is restarted."""
    stores = routed_stores(tmp_path_factory.mktemp("sor"))
    paper(stores.folder, "shallow").set_faults(drop_ack_next=1)
    stores.run(day_bars(FIRST_ENTRY + 1))
    stores.run(day_bars(FIRST_ENTRY + 5))
    return stores


def test_runner_over_router_intends_one_child_per_venue_leg(split_run: RoutedStores) -> None:
    entry = intents(split_run, FIRST_ENTRY)
    assert [(m.venue, m.qty, m.slice_index, m.parent_qty) for m in entry] == [
        ("shallow", 75, 0, 300), ("deep", 225, 1, 300)]


def test_runner_over_router_reconciles_the_lost_answer_at_its_venue(
        split_run: RoutedStores) -> None:
    shallow_key = intents(split_run, FIRST_ENTRY)[0].client_key
    submits = [m for m in split_run.messages(OrderSubmitted)
               if m.client_key == shallow_key]  # type: ignore[attr-defined]
    assert [m.outcome for m in submits] == [Outcome.UNKNOWN,  # type: ignore[attr-defined]
                                            Outcome.CONFIRMED]
    assert submits[1].broker_order_id.startswith("shallow:")  # type: ignore[attr-defined]
    assert submitted_count(paper(split_run.folder, "shallow"), shallow_key) == 1


def test_runner_over_router_fills_aggregate_into_one_position(split_run: RoutedStores) -> None:
    runner = split_run.runner()
    runner.recover()
    entry = intents(split_run, FIRST_ENTRY)
    assert all(runner.state.orders[m.client_key].status is OrderStatus.FILLED for m in entry)
    assert runner.state.positions[("ema_cross", "NIFTY")].net_qty == -300


def test_runner_over_router_best_liquidity_sends_one_order_to_the_deep_venue(
        tmp_path: Path) -> None:
    stores = routed_stores(tmp_path, "best_liquidity")
    stores.run(day_bars(FIRST_ENTRY + 1))
    assert [(m.venue, m.qty) for m in intents(stores, FIRST_ENTRY)] == [("deep", 300)]


def test_runner_over_router_no_venue_for_a_lot_alerts_and_sends_nothing(
        tmp_path: Path) -> None:
    stores = routed_stores(tmp_path)
    tiny = [Venue(name=n, broker=paper(tmp_path, n), account="A", depth_qty=10,
                  max_notional_inr=100.0) for n in ("shallow", "deep")]
    stores.router = lambda: SmartOrderRouter(tiny, ProRataSplit())  # type: ignore[method-assign]
    stores.run(day_bars(FIRST_ENTRY + 1))
    assert intents(stores, FIRST_ENTRY) == []
    codes = [m.code for m in stores.messages(AlertRaised) if isinstance(m, AlertRaised)]
    assert codes.count("order_not_routed") == 1


def test_intents_name_their_venue(split_run: RoutedStores) -> None:
    assert all(isinstance(m, OrderIntended) and m.venue in ("shallow", "deep")
               for m in intents(split_run, FIRST_ENTRY))


# --- settings: live.venues, built by stratops.venue_ops ---------------------------------------

TWO_PAPER = [{"name": "shallow", "account": "A1", "depth_qty": 1000},
             {"name": "deep", "account": "A2", "depth_qty": 3000, "max_qty_per_order": 900}]


def test_settings_two_paper_venues_build_a_router_with_a_book_each(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, live={"venues": TWO_PAPER, "routing_rule": "pro_rata"})
    built = venue_router(settings, "canary", FillModel(tick_size=0.05), None)
    assert built is not None
    router, _ = built
    assert sorted(router.venues) == ["deep", "shallow"] and router.rule.name == "pro_rata"
    assert (tmp_path / ".stratops" / "paper_deep_canary.db").exists()


def test_settings_one_venue_builds_no_router(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, live={"venues": TWO_PAPER[:1]})
    assert venue_router(settings, "canary", FillModel(tick_size=0.05), None) is None


def test_settings_kite_venue_without_a_kite_run_is_refused(tmp_path: Path) -> None:
    kite = {"name": "kite", "broker": "kite", "account": "ZK1", "depth_qty": 5000}
    settings = Settings(root=tmp_path, live={"venues": [TWO_PAPER[0], kite]})
    with pytest.raises(LiveSetupError, match="--broker kite"):
        venue_router(settings, "canary", FillModel(tick_size=0.05), None)


@pytest.mark.parametrize(("venues", "field"), [
    ([TWO_PAPER[0], TWO_PAPER[0]], "unique"),
    ([{**TWO_PAPER[0], "depth_qty": 0}], "depth_qty"),
    ([{**TWO_PAPER[0], "max_notional_inr": -1}], "max_notional_inr"),
    ([{**TWO_PAPER[0], "liquidity": 5}], "liquidity"),
    ([{**TWO_PAPER[0], "name": "Bad Name"}], "name"),
    ([{"name": "k", "broker": "kite", "account": "Z", "depth_qty": 1,
       "exchange_url": "sqlite:///x.db"}], "exchange_url"),
    ([{"name": n, "broker": "kite", "account": "Z", "depth_qty": 1} for n in "ab"], "kite"),
])
def test_settings_bad_venue_refused_naming_the_field(tmp_path: Path, venues: list[object],
                                                     field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(root=tmp_path, live={"venues": venues})


def test_settings_unknown_routing_rule_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="routing_rule"):
        Settings(root=tmp_path, live={"venues": TWO_PAPER, "routing_rule": "cheapest"})


def test_runner_over_router_restart_reconciles_every_venue_clean(
        split_run: RoutedStores) -> None:
    reconciled = [m for m in split_run.messages(ReconciliationCompleted)
                  if isinstance(m, ReconciliationCompleted)]
    assert len(reconciled) >= 2 and all(m.clean for m in reconciled), reconciled


# --- exits go where the position is -----------------------------------------------------------

def test_reducing_order_goes_first_to_the_venues_holding_the_position(tmp_path: Path) -> None:
    legs = plan_legs(ProRataSplit(), venues(tmp_path), qty=300, lot_size=LOT, price=22_000.0,
                     freeze_qty=FREEZE, held_qty={"shallow": 150})
    assert legs == [Leg("shallow", 225), Leg("deep", 75)]  # 150 held + 1 of 2 lots pro rata


def test_runner_over_router_exit_goes_to_the_venue_of_the_entry(tmp_path: Path) -> None:
    stores = routed_stores(tmp_path, "best_liquidity")
    stores.run(day_bars(FIRST_ENTRY + 1))  # short 300, all at the deep venue
    stores.rule = "pro_rata"  # a changed rule: the exit must still close at the deep venue
    stores.run(day_bars(FLIP + 2))
    flip = intents(stores, FLIP)
    exit_trace = flip[0].trace_id
    assert [(m.venue, m.qty) for m in flip if m.trace_id == exit_trace] == [("deep", 300)]
    assert [(m.venue, m.qty) for m in flip if m.trace_id != exit_trace] == [
        ("shallow", 75), ("deep", 225)]
