"""A reroute playbook: new entries leave a venue of the smart order router (exits still
reach the venue holding the position); journaled under the alert's trace and made again
after a restart; refused (journaled) without a router."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.broker import BrokerInputError
from live.events import PlaybookActed, Severity
from live.playbooks.spec import Playbooks, parse_playbooks
from live.runner.deployments import build
from live.runner.runner import Runner
from live.sor.router import SmartOrderRouter
from live.sor.rules import ProRataSplit
from strategies.roster import STRATEGIES
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.unit.test_runner_engine import FIRST_ENTRY, day_bars, record_clock
from tests.unit.test_runner_orders import intents, order_stores
from tests.unit.test_sor import FREEZE, LOT, RoutedStores, venues


def test_router_avoided_venue_takes_no_entry(tmp_path: Path) -> None:
    router = SmartOrderRouter(venues(tmp_path), ProRataSplit())
    router.avoid("deep")
    legs = router.plan(qty=300, lot_size=LOT, price=22_000.0, freeze_qty=FREEZE)
    assert {leg.venue for leg in legs} == {"shallow"}


def test_router_avoided_venue_still_takes_the_exit_of_what_it_holds(tmp_path: Path) -> None:
    router = SmartOrderRouter(venues(tmp_path), ProRataSplit())
    router.avoid("deep")
    legs = router.plan(qty=150, lot_size=LOT, price=22_000.0, freeze_qty=FREEZE,
                       held_qty={"deep": 150})
    assert [(leg.venue, leg.qty) for leg in legs] == [("deep", 150)]


def test_router_avoiding_the_last_venue_is_refused(tmp_path: Path) -> None:
    router = SmartOrderRouter(venues(tmp_path), ProRataSplit())
    router.avoid("deep")
    with pytest.raises(BrokerInputError, match="last venue"):
        router.avoid("shallow")


def reroute_book() -> Playbooks:
    return parse_playbooks({"version": 1, "playbooks": [{
        "name": "leave_deep", "when": {"codes": ["venue_trouble"]}, "action": "reroute",
        "reroute_from": "deep", "rate_limit": {"max_actions": 1, "window_seconds": 3600}}]},
        "playbooks.yaml", known_strategies=set(STRATEGIES), venues={"deep", "shallow"})


def routed_runner(stores: RoutedStores, broker: object | None = None) -> Runner:
    router = stores.router() if broker is None else broker
    deployed = build(VersionConfig.from_json(stores.config), 1, "live", 1.0, "0" * 64)

    def market(b: object) -> None:
        for venue in getattr(router, "venues", {}).values():
            venue.broker.on_bar(b.symbol, b.ts, b.open, b.high, b.low,  # type: ignore[attr-defined]
                                b.close)  # type: ignore[attr-defined]

    runner = Runner(journal=stores.journal(), broker=router, deployed=[deployed],  # type: ignore[arg-type]
                    mode="live", clock=record_clock, risk=PassThroughRisk(), market=market,
                    playbooks=reroute_book())
    runner.recover()
    return runner


@pytest.fixture(scope="module")
def rerouted(tmp_path_factory: pytest.TempPathFactory) -> RoutedStores:
    base = order_stores(tmp_path_factory.mktemp("reroute"), lots=4)
    stores = RoutedStores(base.folder, base.config)
    runner = routed_runner(stores)
    bars = day_bars(FIRST_ENTRY + 1)
    runner.run(bars[:2])
    runner.alert(bars[1].ts, Severity.ERROR, "venue_trouble", "deep: rejects every order")
    runner.run(bars[2:])
    return stores


def test_reroute_sends_the_next_entry_to_the_other_venue(rerouted: RoutedStores) -> None:
    assert {m.venue for m in intents(rerouted, FIRST_ENTRY)} == {"shallow"}


def test_reroute_is_journaled_under_the_alerts_trace(rerouted: RoutedStores) -> None:
    (acted,) = rerouted.messages(PlaybookActed)
    assert (acted.outcome, acted.scope, acted.trace_id[:2]) == ("applied", "deep", "al")


def test_reroute_is_made_again_after_a_restart(rerouted: RoutedStores) -> None:
    restarted = routed_runner(rerouted)
    assert restarted.broker.avoided == {"deep"}  # type: ignore[attr-defined]


def test_reroute_without_a_router_is_journaled_refused(tmp_path: Path) -> None:
    base = order_stores(tmp_path, lots=1)
    stores = RoutedStores(base.folder, base.config)
    runner = routed_runner(stores, broker=stores.exchange())
    bars = day_bars(2)
    runner.run(bars[:1])
    runner.alert(bars[0].ts, Severity.ERROR, "venue_trouble", "deep: down")
    runner.run(bars[1:])
    (acted,) = stores.messages(PlaybookActed)
    assert acted.outcome == "refused" and "smart order router" in acted.detail
