"""The detectors' thresholds (settings ``anomaly.*``) and the registry the runner feeds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from live.anomaly.base import (
    ALERT_CODES,
    FILL_UNKNOWN_ORDER,
    ORDER_STUCK,
    AnomalyConfigError,
    AnomalyThresholds,
)
from live.anomaly.registry import AnomalyRegistry
from live.bus import Envelope
from live.state import LiveState
from stratops.settings import SettingsError, load_settings
from tests.anomaly_flows import T0, at, bar, fill, intent


def registry(**thresholds: Any) -> AnomalyRegistry:
    return AnomalyRegistry(AnomalyThresholds(**thresholds), LiveState(), lambda: T0)


@pytest.mark.parametrize(("field", "value"), [
    ("stuck_order_seconds", 0.0), ("max_orders_per_window", 0), ("latency_z_max", -1.0),
    ("pnl_tolerance_inr", -0.01)])
def test_thresholds_out_of_range_are_refused_naming_the_key(field: str, value: Any) -> None:
    with pytest.raises(AnomalyConfigError, match=f"anomaly.{field}={value!r}"):
        AnomalyThresholds(**{field: value})


def test_thresholds_min_samples_over_the_window_are_refused() -> None:
    with pytest.raises(AnomalyConfigError, match="latency_min_samples"):
        AnomalyThresholds(latency_min_samples=50, latency_window=40)


def test_settings_anomaly_keys_reach_the_thresholds(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_ANOMALY__STUCK_ORDER_SECONDS", "90")
    assert load_settings(tmp_path).anomaly.thresholds().stuck_order_seconds == 90.0


def test_settings_anomaly_unknown_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stratops.yaml").write_text("anomaly: {stuck_orders_seconds: 90}\n")
    with pytest.raises(SettingsError, match="stuck_orders_seconds"):
        load_settings(tmp_path)


def test_registry_sink_collects_findings_until_drained() -> None:
    reg = registry(stuck_order_seconds=60)
    order = intent(T0, "tr-a")
    reg.sink(Envelope("OrderIntended", "m1", (order,)))
    reg.sink(Envelope("BarClosed", "m2", (bar(at(61), 100.0),)))
    assert [f.code for f in reg.drain()] == [ORDER_STUCK]
    assert reg.drain() == []


def test_registry_warm_learns_intents_and_raises_nothing() -> None:
    reg = registry(stuck_order_seconds=60)
    order = intent(T0, "tr-a")
    reg.warm(order)
    reg.warm(bar(at(600), 100.0))  # stuck long ago: journaled then, not raised again
    reg.observe(fill(order, at(601), 100.0))  # a fill of a recovered intent is known
    assert reg.drain() == []


def test_registry_tick_finds_stuck_orders_between_bars() -> None:
    reg = registry(stuck_order_seconds=60)
    reg.observe(intent(T0, "tr-a"))
    reg.tick(T0 + timedelta(seconds=61))
    assert [f.code for f in reg.drain()] == [ORDER_STUCK]


def test_every_finding_code_has_a_severity_and_a_meaning() -> None:
    reg = registry()
    reg.observe(fill(intent(T0, "tr-a"), at(1), 100.0, key="soNEVER"))
    (found,) = reg.drain()
    assert found.code == FILL_UNKNOWN_ORDER and found.severity is ALERT_CODES[found.code][0]
    assert all(meaning for _, meaning in ALERT_CODES.values())


def test_registry_sink_skips_a_redelivered_envelope() -> None:
    reg = registry(max_orders_per_window=1)
    first = Envelope("OrderIntended", "m1", (intent(T0, "tr-a"),))
    reg.sink(first)
    reg.sink(first)  # an at-least-once transport delivering it again: one intent, no runaway
    assert reg.drain() == []
    reg.sink(Envelope("OrderIntended", "m2", (intent(at(1), "tr-b"),)))
    assert [f.code for f in reg.drain()] == ["order_rate_runaway"]
