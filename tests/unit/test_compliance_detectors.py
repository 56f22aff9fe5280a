"""The abuse detectors on synthetic flows that should and should not trigger them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from live.broker import Side
from live.compliance.scan import scan_messages
from live.compliance.thresholds import (
    AbnormalThresholds,
    LayeringThresholds,
    SurveillanceThresholds,
    ThresholdError,
)
from live.events import Severity
from tests.compliance_flows import SYMBOL, Flow, at

DAY = date(2026, 12, 1)
CFG = SurveillanceThresholds()


def _detectors(flow: Flow, day: date = DAY) -> list[str]:
    return [f.detector for f in scan_messages(flow.messages, day, CFG)]


def _spoof(flow: Flow, *, away: float, orders: int = 3, cancel_after_s: int = 30,
           qty: int = 50) -> Flow:
    """Far-side buys placed before our sell fill, cancelled after it."""
    flow.bar(at(10, 0), 100.0)
    keys = [flow.order(at(10, 0, 5 + i), Side.BUY, qty, 100.0 - away) for i in range(orders)]
    flow.trade(at(10, 0, 30), Side.SELL, 50, 100.2)
    for i, key in enumerate(keys):
        flow.cancel(at(10, 0, 30) + timedelta(seconds=cancel_after_s + i), key)
    return flow


def test_layering_far_side_orders_cancelled_around_fill_flags_with_evidence() -> None:
    flow = _spoof(Flow(), away=0.5)  # 50 bps below the touch
    found = scan_messages(flow.messages, DAY, CFG)
    assert [f.detector for f in found] == ["layering"]
    finding = found[0]
    assert finding.severity is Severity.WARNING
    assert len(finding.evidence["cancelled_orders"]) == 3
    assert finding.evidence["cancelled_orders"][0]["away_bps"] == pytest.approx(50.0)
    assert finding.evidence["fill"]["price"] == 100.2


def test_layering_many_orders_is_critical() -> None:
    flow = _spoof(Flow(), away=0.5, orders=6)
    assert scan_messages(flow.messages, DAY, CFG)[0].severity is Severity.CRITICAL


def test_layering_orders_at_the_touch_do_not_flag() -> None:
    assert _detectors(_spoof(Flow(), away=0.01)) == []  # 1 bp: a working quote


def test_layering_orders_cancelled_long_after_the_fill_do_not_flag() -> None:
    assert _detectors(_spoof(Flow(), away=0.5, cancel_after_s=600)) == []


def test_layering_protective_orders_cancelled_by_their_oco_twin_do_not_flag() -> None:
    flow = Flow().bar(at(10, 0), 100.0)
    flow.trade(at(10, 0, 30), Side.SELL, 50, 100.0)
    keys = [flow.order(at(10, 0, 31), Side.BUY, 100, price, after_trade="T1")
            for price in (100.5, 99.0, 101.0)]  # stop-limits and a target, far away
    for key in keys:
        flow.cancel(at(10, 1), key)
    assert _detectors(flow) == []


def test_layering_small_far_side_quantity_does_not_flag() -> None:
    assert _detectors(_spoof(Flow(), away=0.5, qty=10)) == []  # 30 < 2 x 50


def test_wash_two_strategies_crossing_at_one_price_flags_critical() -> None:
    flow = Flow().bar(at(10, 0), 100.0)
    flow.trade(at(10, 1), Side.BUY, 50, 100.0, strategy="ema")
    flow.trade(at(10, 1, 20), Side.SELL, 50, 100.0, strategy="atr")
    found = scan_messages(flow.messages, DAY, CFG)
    assert [(f.detector, f.severity) for f in found] == [("wash", Severity.CRITICAL)]
    assert {x["strategy"] for x in found[0].evidence["fills"]} == {"ema", "atr"}


def test_wash_one_strategy_round_trip_does_not_flag() -> None:
    flow = Flow().bar(at(10, 0), 100.0)
    flow.trade(at(10, 1), Side.BUY, 50, 100.0)
    flow.trade(at(10, 1, 20), Side.SELL, 50, 100.0)
    assert _detectors(flow) == []


def test_wash_fills_far_apart_in_time_do_not_flag() -> None:
    flow = Flow().bar(at(10, 0), 100.0)
    flow.trade(at(10, 1), Side.BUY, 50, 100.0, strategy="ema")
    flow.trade(at(11, 1), Side.SELL, 50, 100.0, strategy="atr")
    assert _detectors(flow) == []


def _close_flow(*, last_price: float, late_qty: int = 80) -> Flow:
    flow = Flow().bar(at(10, 0), 100.0)
    flow.trade(at(10, 0), Side.BUY, 20, 100.0)
    flow.bar(at(15, 15), 100.0, volume=500)
    flow.trade(at(15, 20), Side.BUY, late_qty, 100.1)
    flow.bar(at(15, 29), last_price, volume=500)
    return flow


def test_marking_close_late_buying_lifting_the_close_while_long_flags() -> None:
    found = scan_messages(_close_flow(last_price=100.5).messages, DAY, CFG)
    assert [f.detector for f in found] == ["marking_close"]
    assert found[0].evidence["position_at_close"] == 100
    assert found[0].evidence["move_bps"] == pytest.approx(50.0)


def test_marking_close_price_not_moving_does_not_flag() -> None:
    assert _detectors(_close_flow(last_price=100.02)) == []


def test_marking_close_small_late_share_does_not_flag() -> None:
    assert _detectors(_close_flow(last_price=100.5, late_qty=5)) == []


def _history(flow: Flow, days: int, pnl: float, peak: int) -> Flow:
    """Days of a position built to about ``peak`` and closed, with a usual P&L."""
    for d in range(1, days + 1):
        flow.bar(at(10, 0, day=d), 100.0)
        flow.trade(at(10, 5, day=d), Side.BUY, peak + d % 3, 100.0)
        flow.trade(at(11, 0, day=d), Side.SELL, peak + d % 3, 100.0)
        flow.pnl(at(11, 0, day=d), pnl + 100 * (d % 5))
    return flow


def test_abnormal_pnl_far_outside_history_flags_critical() -> None:
    flow = _history(Flow(), 12, 2_000.0, 50)
    flow.bar(at(10, 0, day=13), 100.0).pnl(at(11, 0, day=13), 250_000.0)
    found = scan_messages(flow.messages, date(2026, 12, 13), CFG)
    assert [(f.detector, f.severity) for f in found] == [("abnormal_pnl", Severity.CRITICAL)]
    assert found[0].evidence["history_days"] == 12


def test_abnormal_position_build_up_flags() -> None:
    flow = _history(Flow(), 12, 2_000.0, 50)
    flow.bar(at(10, 0, day=13), 100.0).trade(at(10, 5, day=13), Side.BUY, 400, 100.0)
    found = scan_messages(flow.messages, date(2026, 12, 13), CFG)
    assert [f.detector for f in found] == ["abnormal_position"]


def test_abnormal_usual_day_does_not_flag() -> None:
    flow = _history(Flow(), 12, 2_000.0, 50)
    flow.bar(at(10, 0, day=13), 100.0).trade(at(10, 5, day=13), Side.BUY, 51, 100.0)
    flow.pnl(at(11, 0, day=13), 2_200.0)
    assert _detectors(flow, date(2026, 12, 13)) == []


def test_abnormal_short_history_gives_no_verdict() -> None:
    flow = _history(Flow(), 5, 2_000.0, 50)
    flow.bar(at(10, 0, day=6), 100.0).pnl(at(11, 0, day=6), 250_000.0)
    assert _detectors(flow, date(2026, 12, 6)) == []


def test_finding_ids_are_stable_across_scans() -> None:
    flow = _spoof(Flow(), away=0.5)
    first = scan_messages(flow.messages, DAY, CFG)
    again = scan_messages(list(flow.messages), DAY, CFG)
    assert [f.finding_id for f in first] == [f.finding_id for f in again]


def test_thresholds_critical_below_minimum_refused_naming_field() -> None:
    with pytest.raises(ThresholdError, match="critical_orders=1"):
        LayeringThresholds(min_orders=2, critical_orders=1)


def test_thresholds_z_critical_below_warning_refused() -> None:
    with pytest.raises(ThresholdError, match="z_critical=3"):
        AbnormalThresholds(z_warning=5, z_critical=3)


def test_scan_other_symbol_activity_is_not_mixed_in() -> None:
    flow = _spoof(Flow(), away=0.5)
    found = scan_messages(flow.messages, DAY, CFG)
    assert {f.symbol for f in found} == {SYMBOL}


def test_compliance_settings_unknown_zone_refused_naming_it() -> None:
    from pydantic import ValidationError

    from stratops.compliance_settings import ComplianceSettings

    with pytest.raises(ValidationError, match="Mars/Olympus"):
        ComplianceSettings(tz="Mars/Olympus")


def test_compliance_settings_cross_field_rule_refused_naming_it() -> None:
    from pydantic import ValidationError

    from stratops.compliance_settings import ComplianceSettings

    with pytest.raises(ValidationError, match=r"z_critical=4\.0: below z_warning=5\.0"):
        ComplianceSettings(abnormal={"z_critical": 4.0})
