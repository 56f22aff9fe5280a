"""The online surveillance monitor: the same findings as the daily batch, each raised once,
journaled by the runner as alerts (and not again after a restart)."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from live.broker import Side
from live.compliance.findings import finding_of_alert
from live.compliance.monitor import SurveillanceMonitor
from live.compliance.scan import scan_messages
from live.compliance.thresholds import MarkingCloseThresholds, SurveillanceThresholds
from live.events import AlertRaised
from live.runner.deployments import build
from live.runner.runner import Runner
from strategies.version_config import VersionConfig
from tests.compliance_flows import Flow, at
from tests.doubles import PassThroughRisk
from tests.unit.test_runner_engine import Stores, day_bars, record_clock, stores_in

DAY = date(2026, 12, 1)
CFG = SurveillanceThresholds()


def _wash_and_spoof() -> Flow:
    flow = Flow().bar(at(10, 0), 100.0)
    keys = [flow.order(at(10, 0, 5 + i), Side.BUY, 50, 99.5) for i in range(3)]
    flow.trade(at(10, 0, 30), Side.SELL, 50, 100.2)
    for i, key in enumerate(keys):
        flow.cancel(at(10, 0, 40 + i), key)
    flow.trade(at(11, 0), Side.BUY, 30, 100.0, strategy="ema")
    flow.trade(at(11, 0, 10), Side.SELL, 30, 100.0, strategy="atr")
    return flow


def _online(messages: list) -> list[str]:
    monitor = SurveillanceMonitor(CFG)
    raised = []
    for message in messages:
        monitor.observe(message)
        raised += [f.finding_id for f in monitor.drain()]
    return raised


def test_monitor_online_findings_equal_the_daily_batch() -> None:
    flow = _wash_and_spoof()
    batch = [f.finding_id for f in scan_messages(flow.messages, DAY, CFG)]
    assert sorted(_online(flow.messages)) == sorted(batch)
    assert len(batch) == 2


def test_monitor_finding_already_journaled_is_not_raised_again() -> None:
    flow = _wash_and_spoof()
    monitor = SurveillanceMonitor(CFG)
    for message in flow.messages:
        monitor.fold(message)
    journaled = [f.alert() for f in scan_messages(flow.messages, DAY, CFG)]
    for alert in journaled:
        monitor.fold(alert)
    monitor.rescan()
    flow.bar(at(11, 5), 100.0)
    monitor.observe(flow.messages[-1])
    assert monitor.drain() == []


def test_monitor_finding_lost_in_a_crash_is_raised_by_the_rescan() -> None:
    flow = _wash_and_spoof()
    monitor = SurveillanceMonitor(CFG)
    for message in flow.messages:
        monitor.fold(message)  # folded back; its alerts never reached the journal
    monitor.rescan()
    assert {f.detector for f in monitor.drain()} == {"layering", "wash"}


def test_finding_alert_round_trips_its_evidence() -> None:
    finding = scan_messages(_wash_and_spoof().messages, DAY, CFG)[0]
    found = finding_of_alert(finding.alert())
    assert found == finding.to_json()


# --- benign flows never flag (the false-positive side) ------------------------------------

@st.composite
def benign_flows(draw: st.DrawFn) -> Flow:
    """One strategy trading a random walk: limits within 2 bps of the touch, some
    cancelled, fills at the touch, nothing in the closing window."""
    flow = Flow()
    price = 100.0
    minute = 0
    for _ in range(draw(st.integers(1, 30))):
        minute += draw(st.integers(1, 10))
        hour, mins = divmod(9 * 60 + 15 + minute, 60)
        if hour * 60 + mins >= 15 * 60:
            break
        price = max(1.0, price * (1 + draw(st.floats(-0.003, 0.003))))
        flow.bar(at(hour, mins), price, volume=draw(st.floats(1_000, 100_000)))
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        qty = draw(st.integers(1, 500))
        off = draw(st.floats(-0.0002, 0.0002))
        key = flow.order(at(hour, mins, 1), side, qty, round(price * (1 + off), 4))
        if draw(st.booleans()):
            flow.cancel(at(hour, mins, draw(st.integers(2, 59))), key)
        else:
            flow.fill(at(hour, mins, 30), key, side, qty, price)
    return flow


@settings(max_examples=60, deadline=None)
@given(benign_flows())
def test_benign_random_flows_raise_no_finding(flow: Flow) -> None:
    assert scan_messages(flow.messages, DAY, CFG) == []
    assert _online(flow.messages) == []


# --- on the runner's path -----------------------------------------------------------------

LOOSE = SurveillanceThresholds(marking_close=MarkingCloseThresholds(
    window_minutes=10, close=time(9, 48), min_share=0.01, min_participation=0.0001,
    min_move_bps=0.01))  # the 2025-03-03 09:38 short, in a window closing at 09:48


def _runner(stores: Stores) -> Runner:
    exchange = stores.exchange()
    deployed = build(VersionConfig.from_json(stores.config), 1, "live", 1.0, "0" * 64)
    return Runner(journal=stores.journal(), broker=exchange, deployed=[deployed],
                  mode="live", clock=record_clock, risk=PassThroughRisk(),
                  market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                   b.close),
                  surveillance=SurveillanceMonitor(LOOSE))


def _surveillance_alerts(stores: Stores) -> list[AlertRaised]:
    return [m for _, m in stores.journal().read() if isinstance(m, AlertRaised)
            and m.code.startswith("surveillance_")]


def test_runner_journals_an_online_finding_once_across_a_restart(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    runner = _runner(stores)
    runner.recover()
    runner.run(day_bars(30))
    first = _surveillance_alerts(stores)
    assert [a.code for a in first] == ["surveillance_marking_close"]
    again = _runner(stores)  # a restart: the journal folded back, the last bar re-processed
    again.recover()
    again.run(day_bars(34))
    assert [a.code for a in _surveillance_alerts(stores)] == ["surveillance_marking_close"]
